//! The seccomp program handed to bwrap (`--seccomp FD`): refuses socket families that
//! cross network namespaces (AF_VSOCK reaches the hypervisor) and foreign syscall ABIs.

/// One classic-BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const AF_VSOCK: u32 = 40;
const EAFNOSUPPORT: u32 = 97;
const ENOSYS: u32 = 38;
/// x32 syscalls on x86_64 carry this bit; they would bypass a filter on plain numbers.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[cfg(target_arch = "x86_64")]
const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "x86_64")]
const SYS_SOCKET: u32 = 41;
#[cfg(target_arch = "aarch64")]
const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
#[cfg(target_arch = "aarch64")]
const SYS_SOCKET: u32 = 198;

// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH_OFF: u32 = 4;
const ARG0_LOW: u32 = 16;

/// The compiled filter as bytes, ready to write into the fd bwrap reads.
pub fn program() -> Vec<u8> {
    let insns = [
        /* 0 */ Insn { code: LD_W_ABS, jt: 0, jf: 0, k: ARCH_OFF },
        /* 1 */ Insn { code: JEQ_K, jt: 0, jf: 7, k: ARCH }, // foreign ABI → 9
        /* 2 */ Insn { code: LD_W_ABS, jt: 0, jf: 0, k: NR },
        /* 3 */ Insn { code: JGE_K, jt: 5, jf: 0, k: X32_SYSCALL_BIT }, // x32 → 9
        /* 4 */ Insn { code: JEQ_K, jt: 0, jf: 2, k: SYS_SOCKET }, // not socket() → 7
        /* 5 */ Insn { code: LD_W_ABS, jt: 0, jf: 0, k: ARG0_LOW },
        /* 6 */ Insn { code: JEQ_K, jt: 1, jf: 0, k: AF_VSOCK }, // vsock → 8
        /* 7 */ Insn { code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW },
        /* 8 */ Insn { code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ERRNO | EAFNOSUPPORT },
        /* 9 */ Insn { code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ERRNO | ENOSYS },
    ];
    let mut out = Vec::with_capacity(insns.len() * 8);
    for i in insns {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the subset of classic BPF used above.
    fn eval(prog: &[u8], arch: u32, nr: u32, arg0: u32) -> u32 {
        let data = |off: u32| match off {
            NR => nr,
            ARCH_OFF => arch,
            ARG0_LOW => arg0,
            _ => panic!("unexpected load at {off}"),
        };
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let b = &prog[pc * 8..pc * 8 + 8];
            let code = u16::from_ne_bytes([b[0], b[1]]);
            let (jt, jf) = (b[2] as usize, b[3] as usize);
            let k = u32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
            match code {
                LD_W_ABS => a = data(k),
                JEQ_K => pc += if a == k { jt } else { jf },
                JGE_K => pc += if a >= k { jt } else { jf },
                RET_K => return k,
                _ => panic!("unknown opcode {code:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn vsock_sockets_are_refused_and_others_allowed() {
        let p = program();
        assert_eq!(eval(&p, ARCH, SYS_SOCKET, AF_VSOCK), SECCOMP_RET_ERRNO | EAFNOSUPPORT);
        assert_eq!(eval(&p, ARCH, SYS_SOCKET, 2), SECCOMP_RET_ALLOW); // AF_INET
        assert_eq!(eval(&p, ARCH, 0, AF_VSOCK), SECCOMP_RET_ALLOW); // read(40, ...)
    }

    #[test]
    fn foreign_abis_are_refused() {
        let p = program();
        assert_eq!(eval(&p, 0x4000_0003, SYS_SOCKET, 2), SECCOMP_RET_ERRNO | ENOSYS); // i386
        assert_eq!(eval(&p, ARCH, X32_SYSCALL_BIT | SYS_SOCKET, AF_VSOCK), SECCOMP_RET_ERRNO | ENOSYS);
    }
}
