/**
 * Builds the small WASI programs of the escape suite: a list of steps (mkdir, rename, symlink,
 * open a directory, probe a path, ...) compiled to WAT and assembled with wabt. Every step reports
 * its errno on stdout as two digits and a space; a probe also copies whatever it got (file bytes,
 * directory entries, stat records) to stdout, so that anything read from outside a mount shows up.
 */
import wabtFactory from 'wabt';

/** A directory descriptor: a number, or the descriptor an earlier `openDir` step kept in a slot. */
export type FdRef = number | { slot: number };

export type Step =
  | { op: 'mkdir' | 'rmdir' | 'unlink'; fd: FdRef; path: string }
  | { op: 'rename'; fd: FdRef; from: string; toFd: FdRef; to: string }
  | { op: 'link'; fd: FdRef; from: string; toFd: FdRef; to: string; follow: boolean }
  | { op: 'symlink'; target: string; fd: FdRef; path: string }
  | { op: 'openDir'; fd: FdRef; path: string; slot: number }
  /** stat, read, list, then open for writing (create + truncate) and write "PWNED". */
  | { op: 'probe'; fd: FdRef; path: string }
  /** Creates a new file (exclusive) and writes "PWNED". */
  | { op: 'create'; fd: FdRef; path: string }
  | { op: 'read'; fd: FdRef; path: string }
  | { op: 'close'; slot: number }
  /** Repeats `steps` `times` times, reporting nothing. */
  | { op: 'loop'; times: number; steps: Step[] };

const STRINGS_AT = 16384;
const SLOTS_AT = 64;
const ALL_RIGHTS = '0x3fffffff';
const READ_RIGHTS = '0x3fffffbf';

class Strings {
  private readonly bytes: number[] = [];
  private readonly at = new Map<string, number>();
  add(text: string): [number, number] {
    const encoded = new TextEncoder().encode(text);
    let offset = this.at.get(text);
    if (offset === undefined) {
      offset = STRINGS_AT + this.bytes.length;
      this.at.set(text, offset);
      this.bytes.push(...encoded);
    }
    return [offset, encoded.length];
  }
  data(): string {
    const escaped = this.bytes.map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('');
    return `(data (i32.const ${STRINGS_AT}) "${escaped}")`;
  }
}

function fd(ref: FdRef): string {
  return typeof ref === 'number' ? `(i32.const ${ref})` : `(i32.load (i32.const ${SLOTS_AT + 4 * ref.slot}))`;
}

function compile(steps: Step[], strings: Strings, report: boolean): string {
  const s = (text: string): string => {
    const [p, l] = strings.add(text);
    return `(i32.const ${p}) (i32.const ${l})`;
  };
  const done = (expr: string): string => (report ? `(call $report ${expr})` : `(drop ${expr})`);
  return steps
    .map((step) => {
      switch (step.op) {
        case 'mkdir':
          return done(`(call $path_create_directory ${fd(step.fd)} ${s(step.path)})`);
        case 'rmdir':
          return done(`(call $path_remove_directory ${fd(step.fd)} ${s(step.path)})`);
        case 'unlink':
          return done(`(call $path_unlink_file ${fd(step.fd)} ${s(step.path)})`);
        case 'rename':
          return done(`(call $path_rename ${fd(step.fd)} ${s(step.from)} ${fd(step.toFd)} ${s(step.to)})`);
        case 'link':
          return done(
            `(call $path_link ${fd(step.fd)} (i32.const ${step.follow ? 1 : 0}) ${s(step.from)} ${fd(step.toFd)} ${s(step.to)})`,
          );
        case 'symlink':
          return done(`(call $path_symlink ${s(step.target)} ${fd(step.fd)} ${s(step.path)})`);
        case 'openDir':
          return done(
            `(call $open_dir ${fd(step.fd)} ${s(step.path)} (i32.const ${SLOTS_AT + 4 * step.slot}))`,
          );
        case 'probe':
          return [
            done(`(call $stat ${fd(step.fd)} ${s(step.path)})`),
            done(`(call $read ${fd(step.fd)} ${s(step.path)})`),
            done(`(call $list ${fd(step.fd)} ${s(step.path)})`),
            done(`(call $write ${fd(step.fd)} ${s(step.path)} (i32.const 9))`),
          ].join('\n');
        case 'create':
          return done(`(call $write ${fd(step.fd)} ${s(step.path)} (i32.const 5))`);
        case 'read':
          return done(`(call $read ${fd(step.fd)} ${s(step.path)})`);
        case 'close':
          return done(`(call $fd_close ${fd({ slot: step.slot })})`);
        case 'loop':
          return `(local.set $i (i32.const 0))
            (block $end${step.times} (loop $again${step.times}
              (br_if $end${step.times} (i32.ge_u (local.get $i) (i32.const ${step.times})))
              ${compile(step.steps, strings, false)}
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $again${step.times})))`;
      }
    })
    .join('\n');
}

export function programText(steps: Step[]): string {
  const strings = new Strings();
  const body = compile(steps, strings, true);
  const [pwned] = strings.add('PWNED');
  return `(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory" (func $path_remove_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link" (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 1)
  ${strings.data()}
  (func $out (param $p i32) (param $l i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $l))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $report (param $e i32)
    (i32.store8 (i32.const 12) (i32.add (i32.const 48) (i32.div_u (local.get $e) (i32.const 10))))
    (i32.store8 (i32.const 13) (i32.add (i32.const 48) (i32.rem_u (local.get $e) (i32.const 10))))
    (i32.store8 (i32.const 14) (i32.const 32))
    (call $out (i32.const 12) (i32.const 3)))
  (func $stat (param $fd i32) (param $p i32) (param $l i32) (result i32) (local $e i32)
    (local.set $e (call $path_filestat_get (local.get $fd) (i32.const 1) (local.get $p) (local.get $l) (i32.const 256)))
    (if (i32.eqz (local.get $e)) (then (call $out (i32.const 256) (i32.const 64))))
    (local.get $e))
  (func $open_dir (param $fd i32) (param $p i32) (param $l i32) (param $slot i32) (result i32)
    (call $path_open (local.get $fd) (i32.const 1) (local.get $p) (local.get $l) (i32.const 2)
      (i64.const ${READ_RIGHTS}) (i64.const ${ALL_RIGHTS}) (i32.const 0) (local.get $slot)))
  (func $read (param $fd i32) (param $p i32) (param $l i32) (result i32) (local $e i32) (local $f i32)
    (local.set $e (call $path_open (local.get $fd) (i32.const 1) (local.get $p) (local.get $l) (i32.const 0)
      (i64.const ${READ_RIGHTS}) (i64.const ${ALL_RIGHTS}) (i32.const 0) (i32.const 40)))
    (if (local.get $e) (then (return (local.get $e))))
    (local.set $f (i32.load (i32.const 40)))
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 8192))
    (local.set $e (call $fd_read (local.get $f) (i32.const 16) (i32.const 1) (i32.const 24)))
    (if (i32.eqz (local.get $e)) (then (call $out (i32.const 1024) (i32.load (i32.const 24)))))
    (drop (call $fd_close (local.get $f)))
    (local.get $e))
  (func $list (param $fd i32) (param $p i32) (param $l i32) (result i32) (local $e i32) (local $f i32)
    (local.set $e (call $open_dir (local.get $fd) (local.get $p) (local.get $l) (i32.const 40)))
    (if (local.get $e) (then (return (local.get $e))))
    (local.set $f (i32.load (i32.const 40)))
    (local.set $e (call $fd_readdir (local.get $f) (i32.const 1024) (i32.const 8192) (i64.const 0) (i32.const 24)))
    (if (i32.eqz (local.get $e)) (then (call $out (i32.const 1024) (i32.load (i32.const 24)))))
    (drop (call $fd_close (local.get $f)))
    (local.get $e))
  (func $write (param $fd i32) (param $p i32) (param $l i32) (param $oflags i32) (result i32) (local $e i32) (local $f i32)
    (local.set $e (call $path_open (local.get $fd) (i32.const 1) (local.get $p) (local.get $l) (local.get $oflags)
      (i64.const ${ALL_RIGHTS}) (i64.const ${ALL_RIGHTS}) (i32.const 0) (i32.const 40)))
    (if (local.get $e) (then (return (local.get $e))))
    (local.set $f (i32.load (i32.const 40)))
    (i32.store (i32.const 16) (i32.const ${pwned}))
    (i32.store (i32.const 20) (i32.const 5))
    (local.set $e (call $fd_write (local.get $f) (i32.const 16) (i32.const 1) (i32.const 24)))
    (drop (call $fd_close (local.get $f)))
    (local.get $e))
  (func (export "_start") (local $i i32)
    ${body}))`;
}

/** Assembles the program of `steps`. */
export async function assemble(steps: Step[]): Promise<Uint8Array> {
  const wabt = await wabtFactory();
  const module = wabt.parseWat('escape.wat', programText(steps));
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}
