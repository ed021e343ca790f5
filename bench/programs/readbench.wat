;; Reads /big.bin (4 KiB at a time) and prints the nanoseconds each phase took, one per line:
;;   1. sequential, cold      2. random (LCG over all blocks), cold-ish
;;   3. warm: the first 2 MiB re-read 16 times (fits the enclave's block cache)
;; Assembled by bench/disk.ts with wabt; a WASI preview1 command.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "big.bin")
  ;; 0: iovec {buf=8192, len=4096}; 64: nread; 72: seek result; 80: clock; 96: fd; 128..: digits
  (global $fd (mut i32) (i32.const 0))

  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 80)))
    (i64.load (i32.const 80)))

  (func $read_block (result i32)
    (i32.store (i32.const 0) (i32.const 8192))
    (i32.store (i32.const 4) (i32.const 4096))
    (if (call $fd_read (global.get $fd) (i32.const 0) (i32.const 1) (i32.const 64)) (then (call $exit (i32.const 2))))
    (i32.load (i32.const 64)))

  (func $seek (param $off i64)
    (if (call $fd_seek (global.get $fd) (local.get $off) (i32.const 0) (i32.const 72)) (then (call $exit (i32.const 3)))))

  ;; Prints an unsigned i64 in decimal and a newline.
  (func $print (param $v i64) (local $p i32)
    (local.set $p (i32.const 160))
    (i32.store8 (local.get $p) (i32.const 10))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (i32.store (i32.const 32) (local.get $p))
    (i32.store (i32.const 36) (i32.sub (i32.const 161) (local.get $p)))
    (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40))))

  (func (export "_start") (local $t i64) (local $blocks i64) (local $i i64) (local $x i64) (local $round i32)
    (if (call $path_open (i32.const 3) (i32.const 1) (i32.const 16) (i32.const 7) (i32.const 0)
          (i64.const 6) (i64.const 6) (i32.const 0) (i32.const 96))
      (then (call $exit (i32.const 1))))
    (global.set $fd (i32.load (i32.const 96)))
    ;; 1. sequential
    (local.set $t (call $now))
    (block $eof (loop $more
      (br_if $eof (i32.eqz (call $read_block)))
      (local.set $blocks (i64.add (local.get $blocks) (i64.const 1)))
      (br $more)))
    (call $print (i64.sub (call $now) (local.get $t)))
    ;; 2. random: as many reads as blocks, x = x * 6364136223846793005 + 1442695040888963407
    (local.set $x (i64.const 12345))
    (local.set $t (call $now))
    (local.set $i (i64.const 0))
    (loop $rand
      (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005)) (i64.const 1442695040888963407)))
      (call $seek (i64.mul (i64.rem_u (i64.shr_u (local.get $x) (i64.const 33)) (local.get $blocks)) (i64.const 4096)))
      (drop (call $read_block))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $rand (i64.lt_u (local.get $i) (local.get $blocks))))
    (call $print (i64.sub (call $now) (local.get $t)))
    ;; 3. warm: 16 passes over the first 512 blocks (2 MiB); the first pass loads them
    (call $seek (i64.const 0))
    (local.set $i (i64.const 0))
    (loop $load (drop (call $read_block)) (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $load (i64.lt_u (local.get $i) (i64.const 512))))
    (local.set $t (call $now))
    (local.set $round (i32.const 0))
    (loop $pass
      (call $seek (i64.const 0))
      (local.set $i (i64.const 0))
      (loop $warm (drop (call $read_block)) (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br_if $warm (i64.lt_u (local.get $i) (i64.const 512))))
      (local.set $round (i32.add (local.get $round) (i32.const 1)))
      (br_if $pass (i32.lt_u (local.get $round) (i32.const 16))))
    (call $print (i64.sub (call $now) (local.get $t)))
    (call $print (local.get $blocks))))
