// Types for release-manifest.mjs, for the TypeScript specs that import it.
export interface PlatformPackage {
  triple: string
  dir: string
  name: string
  nodeFile: string
  os: string
  cpu: string
  libc: 'glibc' | 'musl' | undefined
}
export declare const repoRoot: string
export declare function rootPackageJson(): any
export declare function platformPackages(pkg?: any): PlatformPackage[]
export declare function expectedOptionalDependencies(pkg?: any): Record<string, string>
export declare function publishedRootPackageJson(pkg?: any): any
export declare const ROOT_TARBALL_FILES: string[]
export declare const ROOT_TARBALL_DIST: RegExp
