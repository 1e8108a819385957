/**
 * Node's on-disk compile cache (`module.enableCompileCache`, Node >= 22.8), as tsc and
 * npm use it: V8's compiled code for every module loaded afterwards is kept on disk and
 * reused by the next process, which then skips most of the parsing and compiling of
 * JavaScript. A `paved check` loads ~500 files of Pulumi, zod and the components in each of
 * its two processes; module loading is most of its fixed cost.
 *
 * The directory is Node's choice: `NODE_COMPILE_CACHE` when set, else
 * `<os.tmpdir()>/node-compile-cache`; `NODE_DISABLE_COMPILE_CACHE=1` turns it off. Node
 * checks each entry against the source it was made from, so an edited or upgraded module
 * is compiled afresh. The first run after an install (a cold cache) pays the full cost.
 */
import module from "node:module";

/** Enables the compile cache for modules loaded from now on; the directory, or undefined when off or unsupported. */
export function enableCompileCache(): string | undefined {
  const enable = (module as { enableCompileCache?: () => { status: number; directory?: string } }).enableCompileCache;
  if (typeof enable !== "function") return undefined;
  const result = enable();
  return result.directory;
}
