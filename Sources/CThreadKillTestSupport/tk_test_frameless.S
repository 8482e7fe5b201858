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
