// CPthreadShim_hijack_trampoline: where a hijacked return lands.
//
// When a kill finds a thread inside the Swift runtime, the handler may replace
// the return address of the innermost runtime frame that returns into the
// program's own code with this address (CPthreadShim_async.c, "Hijacked
// returns"). The runtime function finishes its work and returns here instead:
// the thread is now exactly at the original return address, in its own code.
// CPthreadShim_hijack_fire runs the same checks the handler runs there and
// either lands the kill (siglongjmp, never returns) or stores the original
// return address in the slot this code reserved, after which every register
// the returning function may have set (rax, rdx, rcx, r8-r11, rsi, rdi, the
// vector and x87 state, via XSAVE) is restored and `ret` continues there.
//
// The stack below the entry sp is free: the frame we return into made a call,
// so it keeps nothing below its stack pointer (no red zone across a call).
#if defined(__x86_64__)
    .section tkshim,"ax",@progbits
    .globl CPthreadShim_hijack_trampoline
    .hidden CPthreadShim_hijack_trampoline
    .type CPthreadShim_hijack_trampoline,@function
CPthreadShim_hijack_trampoline:
    sub $8, %rsp                 // the continuation slot (entry sp - 8)
    push %rbp                    // a frame record: [rbp] = the caller's rbp
    mov %rsp, %rbp
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    mov CPthreadShim_hijack_xsave_size(%rip), %rax
    sub %rax, %rsp
    and $-64, %rsp               // XSAVE needs 64-byte alignment
    xor %eax, %eax               // XRSTOR faults on a non-zero reserved header
    mov %rax, 512(%rsp)
    mov %rax, 520(%rsp)
    mov %rax, 528(%rsp)
    mov %rax, 536(%rsp)
    mov %rax, 544(%rsp)
    mov %rax, 552(%rsp)
    mov %rax, 560(%rsp)
    mov %rax, 568(%rsp)
    mov $-1, %eax
    mov $-1, %edx
    xsave (%rsp)
    lea 8(%rbp), %rdi            // where to store the continuation
    lea 16(%rbp), %rsi           // the sp at the original return address
    mov (%rbp), %rdx             // the rbp there
    call CPthreadShim_hijack_fire
    mov $-1, %eax
    mov $-1, %edx
    xrstor (%rsp)
    lea -72(%rbp), %rsp
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    pop %rbp
    ret                          // to the original return address
    .size CPthreadShim_hijack_trampoline, .-CPthreadShim_hijack_trampoline
#endif
    .section .note.GNU-stack,"",@progbits
