// void tk_test_spin_frameless(void): sets tk_test_inside_flag, then spins
// until tk_test_release_flag is set, and returns. No push, no frame: its
// caller's return address stays at [sp] (x86_64) or in the link register
// (aarch64) the whole time.
#if defined(__x86_64__)
    .text
    .globl tk_test_spin_frameless
    .type tk_test_spin_frameless,@function
tk_test_spin_frameless:
    movl $1, tk_test_inside_flag(%rip)
1:  pause
    movl tk_test_release_flag(%rip), %eax
    testl %eax, %eax
    jz 1b
    ret
    .size tk_test_spin_frameless, .-tk_test_spin_frameless

// void tk_test_memchr_loop_stale_words(const void *buffer, size_t count):
// sets tk_test_inside_flag, then calls memchr(buffer, 1, count) until
// tk_test_release_flag is set. A framed function whose stack top, at every
// return from memchr, looks like a prologue's: [sp] is its own rbp and
// [sp+8] an address in libc (memchr's). A signal in the loop is declined by
// the stack-word check (rightly: it cannot tell); a signal in memchr may
// hijack memchr's return, and the kill must land there.
    .globl tk_test_memchr_loop_stale_words
    .type tk_test_memchr_loop_stale_words,@function
tk_test_memchr_loop_stale_words:
    push %rbp
    mov %rsp, %rbp
    push %rbx
    push %r12
    sub $16, %rsp
    mov %rdi, %rbx
    mov %rsi, %r12
    mov %rbp, (%rsp)
    mov memchr@GOTPCREL(%rip), %rax
    mov %rax, 8(%rsp)
    movl $1, tk_test_inside_flag(%rip)
1:  mov %rbx, %rdi
    mov $1, %esi
    mov %r12, %rdx
    call memchr@PLT
    movl tk_test_release_flag(%rip), %eax
    testl %eax, %eax
    jz 1b
    add $16, %rsp
    pop %r12
    pop %rbx
    pop %rbp
    ret
    .size tk_test_memchr_loop_stale_words, .-tk_test_memchr_loop_stale_words
#elif defined(__aarch64__)
    .text
    .globl tk_test_spin_frameless
    .type tk_test_spin_frameless,%function
tk_test_spin_frameless:
    adrp x9, tk_test_inside_flag
    add x9, x9, :lo12:tk_test_inside_flag
    mov w10, #1
    stlr w10, [x9]
    adrp x9, tk_test_release_flag
    add x9, x9, :lo12:tk_test_release_flag
1:  ldar w10, [x9]
    cbz w10, 1b
    ret
    .size tk_test_spin_frameless, .-tk_test_spin_frameless
#endif
#if defined(__linux__) && defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
