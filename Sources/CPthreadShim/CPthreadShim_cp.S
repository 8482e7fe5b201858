// long CPthreadShim_cp_asm(const uint32_t *word, long nr, long a1..a6, uint32_t wake)
//
// A syscall whose start can be cancelled without a race (musl's scheme): the
// load of the kill word (cancelled if `word & wake` is nonzero) and the
// syscall instruction both lie in
// [CPthreadShim_cp_begin, CPthreadShim_cp_end). The handler moves a PC found in
// that range to CPthreadShim_cp_cancel, which returns -ECANCELED (125). With
// SA_RESTART an interrupted blocking syscall is rewound onto the syscall
// instruction, so it is inside the range too. A PC at cp_end means the syscall
// finished (maybe with a side effect): its result is kept.
#if defined(__x86_64__) || defined(__aarch64__)
    .section tkshim,"ax",@progbits
    .globl CPthreadShim_cp_asm
    .hidden CPthreadShim_cp_asm
    .globl CPthreadShim_cp_begin
    .hidden CPthreadShim_cp_begin
    .globl CPthreadShim_cp_end
    .hidden CPthreadShim_cp_end
    .globl CPthreadShim_cp_cancel
    .hidden CPthreadShim_cp_cancel
    .type CPthreadShim_cp_asm,%function
#endif
#if defined(__x86_64__)
CPthreadShim_cp_asm:
CPthreadShim_cp_begin:
    mov (%rdi), %eax
    and 24(%rsp), %eax
    jnz CPthreadShim_cp_cancel
    mov %rsi, %rax
    mov %rdx, %rdi
    mov %rcx, %rsi
    mov %r8, %rdx
    mov %r9, %r10
    mov 8(%rsp), %r8
    mov 16(%rsp), %r9
    syscall
CPthreadShim_cp_end:
    ret
CPthreadShim_cp_cancel:
    mov $-125, %rax
    ret
    .size CPthreadShim_cp_asm, .-CPthreadShim_cp_asm
#elif defined(__aarch64__)
CPthreadShim_cp_asm:
CPthreadShim_cp_begin:
    ldr w9, [x0]
    ldr w10, [sp]
    and w9, w9, w10
    cbnz w9, CPthreadShim_cp_cancel
    mov x8, x1
    mov x0, x2
    mov x1, x3
    mov x2, x4
    mov x3, x5
    mov x4, x6
    mov x5, x7
    svc 0
CPthreadShim_cp_end:
    ret
CPthreadShim_cp_cancel:
    mov x0, #-125
    ret
    .size CPthreadShim_cp_asm, .-CPthreadShim_cp_asm
#endif
#if defined(__linux__) && defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
