//! The seccomp program handed to bwrap (`--seccomp FD`): only the socket families the course
//! needs, none of the kernel facilities a lesson never uses (io_uring, keys, bpf, mounts…).

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
const EPERM: u32 = 1;
const ENOSYS: u32 = 38;
const EPROTONOSUPPORT: u32 = 93;
const EAFNOSUPPORT: u32 = 97;
/// x32 syscalls on x86_64 carry this bit; they would bypass a filter on plain numbers.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The socket families a sandboxed program may create.
const AF_UNIX: u32 = 1;
const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;
const AF_NETLINK: u32 = 16;
const NETLINK_ROUTE: u32 = 0;

// Offsets in `struct seccomp_data` (little-endian: an argument's low word comes first).
const NR: u32 = 0;
const ARCH_OFF: u32 = 4;
const ARG0_LOW: u32 = 16;
const ARG2_LOW: u32 = 32;

/// Syscall numbers of this architecture.
#[cfg(target_arch = "x86_64")]
mod nr {
    pub const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    pub const SOCKET: u32 = 41;
    pub const SOCKETPAIR: u32 = 53;
    pub const KEYCTL: u32 = 250;
    pub const ADD_KEY: u32 = 248;
    pub const REQUEST_KEY: u32 = 249;
    pub const USERFAULTFD: u32 = 323;
    pub const BPF: u32 = 321;
    pub const PERF_EVENT_OPEN: u32 = 298;
    pub const KEXEC_LOAD: u32 = 246;
    pub const KEXEC_FILE_LOAD: u32 = 320;
    pub const INIT_MODULE: u32 = 175;
    pub const FINIT_MODULE: u32 = 313;
    pub const DELETE_MODULE: u32 = 176;
    pub const MOUNT: u32 = 165;
    pub const UMOUNT2: u32 = 166;
    pub const PIVOT_ROOT: u32 = 155;
}
#[cfg(target_arch = "aarch64")]
mod nr {
    pub const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    pub const SOCKET: u32 = 198;
    pub const SOCKETPAIR: u32 = 199;
    pub const KEYCTL: u32 = 219;
    pub const ADD_KEY: u32 = 217;
    pub const REQUEST_KEY: u32 = 218;
    pub const USERFAULTFD: u32 = 282;
    pub const BPF: u32 = 280;
    pub const PERF_EVENT_OPEN: u32 = 241;
    pub const KEXEC_LOAD: u32 = 104;
    pub const KEXEC_FILE_LOAD: u32 = 294;
    pub const INIT_MODULE: u32 = 105;
    pub const FINIT_MODULE: u32 = 273;
    pub const DELETE_MODULE: u32 = 106;
    pub const MOUNT: u32 = 40;
    pub const UMOUNT2: u32 = 39;
    pub const PIVOT_ROOT: u32 = 41;
}
// Numbered alike on every architecture (the shared table from 5.1 on).
const IO_URING_SETUP: u32 = 425;
const IO_URING_ENTER: u32 = 426;
const IO_URING_REGISTER: u32 = 427;
const OPEN_TREE: u32 = 428;
const MOVE_MOUNT: u32 = 429;
const FSOPEN: u32 = 430;
const FSCONFIG: u32 = 431;
const FSMOUNT: u32 = 432;
const FSPICK: u32 = 433;
const MOUNT_SETATTR: u32 = 442;

/// Refused syscalls and the errno each returns. Refusals never kill, so a student sees a
/// Python error that names what happened: `ENOSYS` for facilities programs already probe for
/// and do without (io_uring, the key ring), as on a kernel built without them; `EPERM` for
/// privileged operations. Foreign ABIs get `ENOSYS`; sockets, see `filter`.
const REFUSED: &[(u32, u32)] = &[
    (IO_URING_SETUP, ENOSYS),
    (IO_URING_ENTER, ENOSYS),
    (IO_URING_REGISTER, ENOSYS),
    (nr::KEYCTL, ENOSYS),
    (nr::ADD_KEY, ENOSYS),
    (nr::REQUEST_KEY, ENOSYS),
    (nr::USERFAULTFD, EPERM),
    (nr::BPF, EPERM),
    (nr::PERF_EVENT_OPEN, EPERM),
    (nr::KEXEC_LOAD, EPERM),
    (nr::KEXEC_FILE_LOAD, EPERM),
    (nr::INIT_MODULE, EPERM),
    (nr::FINIT_MODULE, EPERM),
    (nr::DELETE_MODULE, EPERM),
    (nr::MOUNT, EPERM),
    (nr::UMOUNT2, EPERM),
    (nr::PIVOT_ROOT, EPERM),
    (OPEN_TREE, EPERM),
    (MOVE_MOUNT, EPERM),
    (FSOPEN, EPERM),
    (FSCONFIG, EPERM),
    (FSMOUNT, EPERM),
    (FSPICK, EPERM),
    (MOUNT_SETATTR, EPERM),
];

/// Where a jump goes: the next instruction, or a labelled one further on.
#[derive(Clone, Copy, PartialEq)]
enum To {
    Next,
    L(&'static str),
}

/// A straight-line program with forward jumps to labels, assembled into `Insn`s.
#[derive(Default)]
struct Asm {
    ops: Vec<(u16, To, To, u32)>,
    labels: Vec<(&'static str, usize)>,
}

impl Asm {
    fn label(&mut self, name: &'static str) {
        self.labels.push((name, self.ops.len()));
    }
    fn load(&mut self, offset: u32) {
        self.ops.push((LD_W_ABS, To::Next, To::Next, offset));
    }
    fn jump_if(&mut self, code: u16, k: u32, then: To, otherwise: To) {
        self.ops.push((code, then, otherwise, k));
    }
    fn ret(&mut self, action: u32) {
        self.ops.push((RET_K, To::Next, To::Next, action));
    }
    fn finish(self) -> Vec<Insn> {
        let at = |to: To, pc: usize| -> u8 {
            let To::L(name) = to else { return 0 };
            let (_, target) = self.labels.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no label {name}"));
            u8::try_from(target - pc - 1).expect("a seccomp jump must be forward and shorter than 256")
        };
        self.ops.iter().enumerate().map(|(pc, &(code, jt, jf, k))| Insn { code, jt: at(jt, pc), jf: at(jf, pc), k }).collect()
    }
}

/// The whole filter. `socket`/`socketpair` outside AF_UNIX, AF_INET, AF_INET6 fail with
/// `EAFNOSUPPORT` (AF_VSOCK reaches the hypervisor across namespaces; AF_PACKET, AF_ALG,
/// AF_KEY… are no lesson's business); netlink other than `NETLINK_ROUTE` (which glibc's
/// getaddrinfo and if_nameindex use) fails with `EPROTONOSUPPORT`.
fn filter() -> Vec<Insn> {
    let mut a = Asm::default();
    a.load(ARCH_OFF);
    a.jump_if(JEQ_K, nr::ARCH, To::Next, To::L("enosys"));
    a.load(NR);
    a.jump_if(JGE_K, X32_SYSCALL_BIT, To::L("enosys"), To::Next);
    a.jump_if(JEQ_K, nr::SOCKET, To::L("family"), To::Next);
    a.jump_if(JEQ_K, nr::SOCKETPAIR, To::L("family"), To::Next);
    for &(sys, errno) in REFUSED {
        a.jump_if(JEQ_K, sys, To::L(if errno == EPERM { "eperm" } else { "enosys" }), To::Next);
    }
    a.ret(SECCOMP_RET_ALLOW);
    a.label("family");
    a.load(ARG0_LOW);
    for family in [AF_UNIX, AF_INET, AF_INET6] {
        a.jump_if(JEQ_K, family, To::L("allow"), To::Next);
    }
    a.jump_if(JEQ_K, AF_NETLINK, To::Next, To::L("eafnosupport"));
    a.load(ARG2_LOW);
    a.jump_if(JEQ_K, NETLINK_ROUTE, To::L("allow"), To::Next);
    a.ret(SECCOMP_RET_ERRNO | EPROTONOSUPPORT);
    a.label("eafnosupport");
    a.ret(SECCOMP_RET_ERRNO | EAFNOSUPPORT);
    a.label("allow");
    a.ret(SECCOMP_RET_ALLOW);
    a.label("eperm");
    a.ret(SECCOMP_RET_ERRNO | EPERM);
    a.label("enosys");
    a.ret(SECCOMP_RET_ERRNO | ENOSYS);
    a.finish()
}

/// The compiled filter as bytes, ready to write into the fd bwrap reads.
pub fn program() -> Vec<u8> {
    let insns = filter();
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
    use nr::*;

    /// A tiny interpreter for the subset of classic BPF used above.
    fn eval(prog: &[u8], arch: u32, nr: u32, arg0: u32, arg2: u32) -> u32 {
        let data = |off: u32| match off {
            NR => nr,
            ARCH_OFF => arch,
            ARG0_LOW => arg0,
            ARG2_LOW => arg2,
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

    fn socket(family: u32, protocol: u32) -> u32 {
        eval(&program(), ARCH, SOCKET, family, protocol)
    }

    #[test]
    fn only_unix_inet_inet6_and_route_netlink_sockets_are_allowed() {
        for family in [AF_UNIX, AF_INET, AF_INET6] {
            assert_eq!(socket(family, 0), SECCOMP_RET_ALLOW, "family {family}");
            assert_eq!(socket(family, 6), SECCOMP_RET_ALLOW, "family {family}, a protocol");
        }
        assert_eq!(socket(AF_NETLINK, NETLINK_ROUTE), SECCOMP_RET_ALLOW);
        assert_eq!(eval(&program(), ARCH, SOCKETPAIR, AF_UNIX, 0), SECCOMP_RET_ALLOW);
    }

    #[test]
    fn other_socket_families_are_refused_with_eafnosupport() {
        // AF_KEY 15, AF_PACKET 17, AF_VSOCK 40, AF_ALG 38, AF_BLUETOOTH 31, AF_CAN 29, AF_TIPC 30.
        for family in [0, 3, 4, 5, 15, 17, 29, 30, 31, 38, 40, 44, 45, 46, 1000] {
            assert_eq!(socket(family, 0), SECCOMP_RET_ERRNO | EAFNOSUPPORT, "family {family}");
            assert_eq!(eval(&program(), ARCH, SOCKETPAIR, family, 0), SECCOMP_RET_ERRNO | EAFNOSUPPORT);
        }
    }

    #[test]
    fn netlink_other_than_route_is_refused_with_eprotonosupport() {
        // NETLINK_SOCK_DIAG 4, NETLINK_AUDIT 9, NETLINK_KOBJECT_UEVENT 15, NETLINK_GENERIC 16.
        for protocol in [1, 4, 9, 15, 16] {
            assert_eq!(socket(AF_NETLINK, protocol), SECCOMP_RET_ERRNO | EPROTONOSUPPORT, "protocol {protocol}");
        }
    }

    #[test]
    fn kernel_facilities_the_course_never_uses_are_refused_with_an_errno() {
        let p = program();
        for &(sys, errno) in REFUSED {
            assert_eq!(eval(&p, ARCH, sys, 0, 0), SECCOMP_RET_ERRNO | errno, "syscall {sys}");
        }
        assert_eq!(eval(&p, ARCH, IO_URING_SETUP, 0, 0), SECCOMP_RET_ERRNO | ENOSYS);
        assert_eq!(eval(&p, ARCH, BPF, 0, 0), SECCOMP_RET_ERRNO | EPERM);
        assert_eq!(eval(&p, ARCH, MOUNT, 0, 0), SECCOMP_RET_ERRNO | EPERM);
    }

    #[test]
    fn ordinary_syscalls_are_allowed_whatever_their_arguments() {
        let p = program();
        for sys in [0, 1, 2, 3, 9, 56, 57, 59, 61, 202, 435] {
            assert_eq!(eval(&p, ARCH, sys, 40, 9), SECCOMP_RET_ALLOW, "syscall {sys}");
        }
    }

    #[test]
    fn foreign_abis_are_refused() {
        let p = program();
        assert_eq!(eval(&p, 0x4000_0003, SOCKET, 2, 0), SECCOMP_RET_ERRNO | ENOSYS); // i386
        assert_eq!(eval(&p, ARCH, X32_SYSCALL_BIT | SOCKET, 40, 0), SECCOMP_RET_ERRNO | ENOSYS);
    }
}
