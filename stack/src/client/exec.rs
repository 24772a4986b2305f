//! What the shim's exec hooks read of a program before it runs (`tapstack-preload`'s
//! `exec.rs`, `keepenv.rs`): whether LD_PRELOAD can reach it (a statically linked or Go program
//! cannot), the interpreter a `#!` script names, whether an LD_PRELOAD value holds the shim.
//! Pure functions over bytes; no allocation (they run in a child after fork or vfork).

/// What makes a program out of LD_PRELOAD's reach.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    Static,
    Go,
}

fn u16_at(b: &[u8], i: usize) -> usize {
    u16::from_le_bytes([b[i], b[i + 1]]) as usize
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(x)
}

/// The ELF64 little-endian executable named `name` whose bytes `read_at(buf, offset)` reads
/// (true only when it filled `buf`): Static without a program interpreter, Go with a
/// `.go.buildinfo` section; None for anything else (a dynamic program, a script, ELF32, a
/// malformed file). Stack buffers only: it runs in a child after vfork.
pub fn elf_reach(mut read_at: impl FnMut(&mut [u8], u64) -> bool, name: &[u8]) -> Option<Reach> {
    let mut eh = [0u8; 64];
    if !read_at(&mut eh, 0) || eh[..4] != *b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return None;
    }
    if !matches!(u16_at(&eh, 16), 2 | 3) {
        return None;
    }
    let (phoff, phent, phnum) = (u64_at(&eh, 32), u16_at(&eh, 54), u16_at(&eh, 56));
    let mut interp = false;
    let mut ph = [0u8; 56];
    for i in 0..phnum.min(256) {
        if phent < 4 || !read_at(&mut ph[..4], phoff + (i * phent) as u64) {
            return None;
        }
        interp |= u32_at(&ph, 0) == 3; // PT_INTERP
    }
    // The dynamic loader itself has none and honours LD_PRELOAD.
    let base = name.rsplit(|&c| c == b'/').next().unwrap_or(name);
    if !interp && !base.starts_with(b"ld-") && !base.starts_with(b"ld.so") {
        return Some(Reach::Static);
    }
    let (shoff, shent, shnum, shstrndx) = (u64_at(&eh, 40), u16_at(&eh, 58), u16_at(&eh, 60), u16_at(&eh, 62));
    let mut sh = [0u8; 64];
    if shent < 64 || shstrndx >= shnum || !read_at(&mut sh, shoff + (shstrndx * shent) as u64) {
        return None;
    }
    let (stroff, strsize) = (u64_at(&sh, 24), u64_at(&sh, 32));
    let mut names = [0u8; 4096];
    let n = (strsize as usize).min(names.len());
    if !read_at(&mut names[..n], stroff) {
        return None;
    }
    const GO: &[u8] = b".go.buildinfo\0";
    for i in 0..shnum.min(512) {
        if !read_at(&mut sh[..4], shoff + (i * shent) as u64) {
            return None;
        }
        let at = u32_at(&sh, 0) as usize;
        if names.get(at..at + GO.len()) == Some(GO) {
            return Some(Reach::Go);
        }
    }
    None
}

/// The interpreter of a `#!` script whose first bytes are `head` (at most its first line), as
/// the kernel's binfmt_script reads it: after `#!` and blanks, up to a blank or the line's end.
/// None for anything else, or when `head` was cut (`complete` false) before the name ended.
pub fn shebang_interpreter(head: &[u8], complete: bool) -> Option<&[u8]> {
    let line = head.strip_prefix(b"#!")?;
    let start = line.iter().position(|&c| c != b' ' && c != b'\t')?;
    let rest = &line[start..];
    let end = rest.iter().position(|&c| matches!(c, b' ' | b'\t' | b'\n' | 0));
    let len = end.or(complete.then_some(rest.len()))?;
    (len > 0).then_some(&rest[..len])
}

/// Whether an LD_PRELOAD value (entries split by spaces or colons, as ld.so reads it) names a
/// file called `name`.
pub fn preload_has(value: &[u8], name: &[u8]) -> bool {
    value.split(|&c| c == b' ' || c == b':').any(|e| e.rsplit(|&c| c == b'/').next() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach_of(path: &str) -> Option<Reach> {
        let bytes = std::fs::read(path).unwrap();
        let read_at = |buf: &mut [u8], off: u64| match bytes.get(off as usize..off as usize + buf.len()) {
            Some(b) => {
                buf.copy_from_slice(b);
                true
            }
            None => false,
        };
        elf_reach(read_at, path.as_bytes())
    }

    #[test]
    fn a_dynamic_program_and_a_script_are_reachable() {
        assert_eq!(reach_of(std::env::current_exe().unwrap().to_str().unwrap()), None);
        assert_eq!(reach_of("/bin/sh"), None);
        assert_eq!(reach_of("/etc/passwd"), None);
    }

    #[test]
    fn an_elf_header_without_program_interpreter_is_static() {
        // ELF64 LE executable, no program headers, no sections.
        let mut eh = [0u8; 64];
        eh[..6].copy_from_slice(b"\x7fELF\x02\x01");
        eh[16] = 2;
        let read_at = |buf: &mut [u8], off: u64| match eh.get(off as usize..off as usize + buf.len()) {
            Some(b) => {
                buf.copy_from_slice(b);
                true
            }
            None => false,
        };
        assert_eq!(elf_reach(read_at, b"/x/prog"), Some(Reach::Static));
        // The dynamic loader itself has none and honours LD_PRELOAD.
        assert_eq!(elf_reach(read_at, b"/lib64/ld-linux-x86-64.so.2"), None);
        // Truncated: nothing to say.
        assert_eq!(elf_reach(|_: &mut [u8], _| false, b"/x/prog"), None);
    }

    #[test]
    fn a_scripts_interpreter_is_its_first_word() {
        assert_eq!(shebang_interpreter(b"#!/bin/sh -e\necho\n", true), Some(&b"/bin/sh"[..]));
        assert_eq!(shebang_interpreter(b"#!  /usr/bin/env python3\n", true), Some(&b"/usr/bin/env"[..]));
        assert_eq!(shebang_interpreter(b"#!/x/y", true), Some(&b"/x/y"[..]));
        assert_eq!(shebang_interpreter(b"#!/x/yyyy", false), None);
        assert_eq!(shebang_interpreter(b"#!\n", true), None);
        assert_eq!(shebang_interpreter(b"#!", true), None);
        assert_eq!(shebang_interpreter(b"\x7fELF", true), None);
    }

    #[test]
    fn finds_the_shim_in_an_ld_preload_value() {
        let name = b"libtapstack_preload.so";
        assert!(preload_has(b"/x/y/libtapstack_preload.so", name));
        assert!(preload_has(b"libfoo.so /x/libtapstack_preload.so", name));
        assert!(preload_has(b"libfoo.so:libtapstack_preload.so", name));
        assert!(!preload_has(b"/x/libtapstack_preload.so.1", name));
        assert!(!preload_has(b"", name));
    }
}
