//! Externals that own native state, checked without napi-rs's global
//! registry: `Owned<T>` makes one (a return type), `Handle<T>` reads one
//! back (a by-value argument type). The fd and lock handles use them.
//!
//! **Why not napi-rs's `External<T>`.** Its check that a JS external is a
//! live `External<T>` of this binary is a process-wide `Mutex<HashMap>` of
//! every payload: one insert when made, one lookup per call, one remove in
//! the finalizer. With many handles awaiting collection the table is large
//! and those operations miss the cache: `perf` of `tryLockFile(fd)` +
//! `release()` put 10 % of the time in that map's `insert` and
//! `remove_entry` (about 0.8 µs of 8 µs), and `&External<T>` arguments also
//! open napi-rs's per-call borrow scope (another 3 %). See
//! docs/bench-floor.md.
//!
//! **How, instead.** Each thread (each Node-API environment runs on one)
//! keeps a slab of the payloads it made. The external's data is not a
//! pointer but a token: the slot's index and generation, mixed with a
//! per-thread random key. Reading one back decodes the token and accepts it
//! only if the slot is live, of the same generation and holds a `T`:
//! arithmetic and one bounds-checked read of our own slab, so a foreign
//! external (another addon's, or one of ours of another type) is an
//! `InvalidArg` error, never a dereference of memory we do not own. A JS
//! external cannot leave its environment's thread, so the slab of the
//! thread that reads a token is the one that made it.
//!
//! The payload is boxed, so a `Handle<T>` borrowed for one native call
//! stays valid even if the call makes other handles (the slab may grow).
//! The JS external is an argument of that call, so it cannot be collected,
//! and its payload freed, while the call runs.

use std::any::TypeId;
use std::cell::RefCell;
use std::ffi::c_void;
use std::hash::BuildHasher;
use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, ToNapiValue, TypeName, ValidateNapiValue};
use napi::{sys, Error, Result, Status, ValueType};

/// A new external that owns `T`; dropping it (garbage collection, or the
/// environment's teardown) drops `T`.
pub struct Owned<T: 'static>(pub T);

/// The `T` of an external made by `Owned<T>`, for the length of one native
/// call.
pub struct Handle<T: 'static>(&'static T);

impl<T: 'static> std::ops::Deref for Handle<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0
    }
}

struct Slot {
    generation: u32,
    ty: TypeId,
    /// The boxed payload, or null when the slot is free.
    payload: *mut c_void,
    drop: unsafe fn(*mut c_void),
    /// The environment that made it (`drop_env`).
    env: usize,
}

struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    key: u64,
}

/// Tokens use the low 61 bits; the data pointer is `token << 3 | 4`, so it
/// is never null and a value with other low bits is not ours.
const TOKEN_BITS: u64 = (1 << 61) - 1;
/// A slot's generation wraps after 2^29 reuses. That lets an old token name
/// a new payload only if its external was still alive all that time, and a
/// slot is freed only when its external is collected (`finalize`) or its
/// environment is torn down (`drop_env`), after which that environment runs
/// no more JS; so no live external holds a token of a freed slot (s39-hostile
/// L3 asked). The type check in `decode`'s callers holds regardless.
const GENERATION_MASK: u32 = (1 << 29) - 1;

thread_local! {
    static SLAB: RefCell<Slab> = RefCell::new(Slab {
        slots: Vec::new(),
        free: Vec::new(),
        key: std::collections::hash_map::RandomState::new().hash_one(0u8) & TOKEN_BITS,
    });
}

/// Drops a `Box<T>` made by `Owned<T>`.
///
/// # Safety
/// `p` must come from `Box::<T>::into_raw` and not have been freed.
unsafe fn drop_box<T>(p: *mut c_void) {
    // SAFETY: the caller passes the pointer `Box::<T>::into_raw` gave, once.
    drop(unsafe { Box::from_raw(p.cast::<T>()) });
}

/// A payload and the function that drops it.
type Taken = (*mut c_void, unsafe fn(*mut c_void));

impl Slab {
    fn encode(&self, index: u32, generation: u32) -> usize {
        let token = ((u64::from(generation) << 32) | u64::from(index)) ^ self.key;
        ((token << 3) | 4) as usize
    }

    /// The slot index a data pointer names, if it is one of this slab's live
    /// slots of its generation.
    fn decode(&self, data: usize) -> Option<usize> {
        let data = data as u64;
        if data & 7 != 4 {
            return None;
        }
        let x = (data >> 3) ^ self.key;
        let (index, generation) = ((x & 0xffff_ffff) as usize, (x >> 32) as u32);
        let slot = self.slots.get(index)?;
        (!slot.payload.is_null() && slot.generation == generation).then_some(index)
    }

    fn insert(
        &mut self,
        ty: TypeId,
        payload: *mut c_void,
        drop: unsafe fn(*mut c_void),
        env: usize,
    ) -> usize {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    ty,
                    payload: ptr::null_mut(),
                    drop,
                    env,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        slot.ty = ty;
        slot.payload = payload;
        slot.drop = drop;
        slot.env = env;
        let generation = slot.generation;
        self.encode(index, generation)
    }

    /// Frees the slot `data` names and hands back its payload and drop.
    fn remove(&mut self, data: usize) -> Option<Taken> {
        let index = self.decode(data)?;
        Some(self.take(index))
    }

    /// Frees live slot `index` and hands back its payload and drop.
    fn take(&mut self, index: usize) -> Taken {
        let slot = &mut self.slots[index];
        let out = (slot.payload, slot.drop);
        slot.payload = ptr::null_mut();
        self.free.push(index as u32);
        out
    }

    /// Frees every live slot that `env` made and hands back their payloads.
    fn take_env(&mut self, env: usize) -> Vec<Taken> {
        let live: Vec<usize> = (0..self.slots.len())
            .filter(|&i| !self.slots[i].payload.is_null() && self.slots[i].env == env)
            .collect();
        live.into_iter().map(|i| self.take(i)).collect()
    }
}

/// Drops every payload that `env` made on this thread and that is still
/// live, as if each external had been collected: fds closed, locks
/// released. For runtimes that never finalize a dead worker's externals
/// (Deno: a lock a terminated worker held stayed held, and each of its
/// objects kept its fd), called from the environment's cleanup hook
/// (`rt/env.rs`). An external whose slot is gone is refused if it is ever
/// passed again, and its finalizer, if the runtime runs it after all, finds
/// nothing to free.
pub fn drop_env(env: sys::napi_env) {
    let taken = SLAB
        .try_with(|s| {
            s.try_borrow_mut()
                .map(|mut s| s.take_env(env as usize))
                .unwrap_or_default()
        })
        .unwrap_or_default();
    for (payload, drop) in taken {
        // SAFETY: each slot held this payload with its matching drop;
        // freeing the slot made this the only free.
        unsafe { drop(payload) };
    }
}

/// The external's finalizer: frees the slot, then drops the payload (outside
/// the slab's borrow, in case the drop makes or reads other handles).
// SAFETY: called by Node-API once per external made in `Owned::to_napi_value`,
// on the thread that made it, with the data given there.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // At a thread's very end the slab may be gone: the payload then leaks,
    // as a napi-rs External whose finalizer never runs does.
    let taken = SLAB
        .try_with(|s| s.borrow_mut().remove(data as usize))
        .ok()
        .flatten();
    if let Some((payload, drop)) = taken {
        // SAFETY: the slot held this payload, made by `Owned::to_napi_value`
        // with its matching drop; removing the slot makes this the only free.
        unsafe { drop(payload) };
    }
}

impl<T: 'static> ToNapiValue for Owned<T> {
    // SAFETY: napi-rs calls this with the live env of the running native call.
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let payload = Box::into_raw(Box::new(val.0)).cast::<c_void>();
        let data = SLAB.with(|s| {
            s.borrow_mut()
                .insert(TypeId::of::<T>(), payload, drop_box::<T>, env as usize)
        });
        let mut out = ptr::null_mut();
        // SAFETY: env is the live environment of this call; `finalize` frees
        // the slot named by `data` when V8 collects the external.
        let status = unsafe {
            sys::napi_create_external(
                env,
                data as *mut c_void,
                Some(finalize),
                ptr::null_mut(),
                &mut out,
            )
        };
        if status != sys::Status::napi_ok {
            if let Some((p, drop)) = SLAB.with(|s| s.borrow_mut().remove(data)) {
                // SAFETY: no external was made, so nothing else frees `p`.
                unsafe { drop(p) };
            }
            return Err(Error::new(Status::GenericFailure, "napi_create_external failed"));
        }
        Ok(out)
    }
}

impl<T: 'static> FromNapiValue for Handle<T> {
    // SAFETY: napi-rs calls this with the env and an argument of the running call.
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        let mut data = ptr::null_mut();
        // SAFETY: env and value are this call's; a non-external is napi_invalid_arg.
        let status = unsafe { sys::napi_get_value_external(env, value, &mut data) };
        if status != sys::Status::napi_ok {
            return Err(Error::new(Status::InvalidArg, "expected a handle (an External)"));
        }
        let payload = SLAB.with(|s| {
            let s = s.borrow();
            let index = s.decode(data as usize)?;
            let slot = &s.slots[index];
            (slot.ty == TypeId::of::<T>()).then_some(slot.payload)
        });
        match payload {
            // SAFETY: the slot is live and holds a `Box<T>` (checked above);
            // the external is an argument of the running call, so it is not
            // collected and the box not freed before the call returns.
            Some(p) => Ok(Handle(unsafe { &*p.cast::<T>() })),
            None => Err(Error::new(
                Status::InvalidArg,
                format!(
                    "<{}> on `External` is not the type of wrapped object",
                    std::any::type_name::<T>()
                ),
            )),
        }
    }
}

impl<T: 'static> TypeName for Owned<T> {
    fn type_name() -> &'static str {
        "External"
    }
    fn value_type() -> ValueType {
        ValueType::External
    }
}

impl<T: 'static> TypeName for Handle<T> {
    fn type_name() -> &'static str {
        "External"
    }
    fn value_type() -> ValueType {
        ValueType::External
    }
}

impl<T: 'static> ValidateNapiValue for Handle<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_stale_or_forged_ones_are_refused() {
        let mut s = Slab {
            slots: Vec::new(),
            free: Vec::new(),
            key: 0x0123_4567_89ab_cdef & TOKEN_BITS,
        };
        let p = Box::into_raw(Box::new(7u32)).cast::<c_void>();
        let a = s.insert(TypeId::of::<u32>(), p, drop_box::<u32>, 1);
        assert_eq!(s.decode(a), Some(0));
        assert_eq!(s.decode(a ^ 1), None, "low bits are checked");
        assert_eq!(s.decode(a ^ (1 << 40)), None, "a wrong generation");
        assert_eq!(s.decode(0), None);
        let (q, drop) = s.remove(a).unwrap();
        assert_eq!(q, p);
        // SAFETY: p came from Box::<u32>::into_raw and is freed once, here.
        unsafe { drop(q) };
        assert_eq!(s.decode(a), None, "a freed slot");
        assert!(s.remove(a).is_none(), "freed twice");
        let p2 = Box::into_raw(Box::new(8u32)).cast::<c_void>();
        let b = s.insert(TypeId::of::<u32>(), p2, drop_box::<u32>, 1);
        assert_ne!(a, b, "the reused slot has a new generation");
        assert_eq!(s.decode(a), None, "the old token does not name the new payload");
        assert_eq!(s.decode(b), Some(0));
        let (q2, drop2) = s.remove(b).unwrap();
        // SAFETY: as above.
        unsafe { drop2(q2) };
    }

    #[test]
    fn an_environment_s_teardown_takes_only_its_own_live_payloads() {
        let mut s = Slab {
            slots: Vec::new(),
            free: Vec::new(),
            key: 0x0fed_cba9_8765_4321 & TOKEN_BITS,
        };
        let mut made = Vec::new();
        for (v, env) in [(1u32, 10), (2, 20), (3, 10), (4, 10)] {
            let p = Box::into_raw(Box::new(v)).cast::<c_void>();
            made.push(s.insert(TypeId::of::<u32>(), p, drop_box::<u32>, env));
        }
        let (gone, drop) = s.remove(made[2]).unwrap();
        // SAFETY: from Box::<u32>::into_raw, freed once, here.
        unsafe { drop(gone) };
        let taken = s.take_env(10);
        // SAFETY: each came from Box::<u32>::into_raw and is read once, then freed once.
        let values: Vec<u32> = taken
            .into_iter()
            .map(|(p, drop)| unsafe {
                let v = *p.cast::<u32>();
                drop(p);
                v
            })
            .collect();
        assert_eq!(values, [1, 4], "env 10's live payloads, not the freed one");
        assert_eq!(s.decode(made[0]), None, "a taken slot's token is refused");
        assert_eq!(s.decode(made[1]), Some(1), "env 20's is untouched");
        assert!(s.take_env(10).is_empty(), "taken once");
        let (q, drop) = s.remove(made[1]).unwrap();
        // SAFETY: as above.
        unsafe { drop(q) };
    }
}
