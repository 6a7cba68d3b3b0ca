//! The process-wide budget of live mappings (`memfd::map_budget`): three
//! quarters of `vm.max_map_count`, then `ENOMEM`. In a test binary of its
//! own, since the count is the process's.

use linux_fd_core::memfd::{map_budget, map_slot_free, map_slot_take, map_slots_taken};
use linux_fd_core::Errno;

#[test]
fn slots_run_out_at_three_quarters_of_max_map_count_and_come_back() {
    let max: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(65_530);
    assert_eq!(map_budget(), max / 4 * 3);
    assert_eq!(map_slots_taken(), 0);
    for _ in 0..map_budget() {
        map_slot_take().unwrap();
    }
    let e = map_slot_take().unwrap_err();
    assert_eq!((e.errno, e.syscall), (Errno::ENOMEM, "mmap"));
    assert_eq!(map_slots_taken(), map_budget(), "a refused take takes nothing");
    map_slot_free();
    map_slot_take().unwrap();
    for _ in 0..map_budget() {
        map_slot_free();
    }
    assert_eq!(map_slots_taken(), 0);
}
