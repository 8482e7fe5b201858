// One-frame DWARF CFI unwinding, for hijacked returns through glibc
// (CPthreadShim_async.c). glibc keeps data in rbp, so its frames cannot be
// walked by frame pointers; its .eh_frame says, for every instruction, where
// the frame's return address and the caller's rbp are. This reads that table
// and nothing else: no allocation, no locks, every read bounds-checked against
// the object's read-only segment or the thread's stack — async-signal-safe.
// It understands what glibc's compiler-generated and hand-written CFI uses
// (tools: `readelf --debug-dump=frames`) and gives up on anything else
// (expressions, register rules, 64-bit lengths).
#include "tk_internal.h"

#include <string.h>

enum { TK_REG_RBP = 6, TK_REG_RSP = 7, TK_REG_RA = 16, TK_STATE_DEPTH = 4 };

typedef struct {
    const unsigned char *p, *end;
    int ok;
} tk_reader;

static unsigned char tk_u8(tk_reader *r) {
    if (!r->ok || r->p >= r->end) { r->ok = 0; return 0; }
    return *r->p++;
}

static uint64_t tk_uleb(tk_reader *r) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        unsigned char b = tk_u8(r);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    r->ok = 0;
    return 0;
}

static int64_t tk_sleb(tk_reader *r) {
    int64_t v = 0;
    int shift = 0;
    unsigned char b;
    do {
        b = tk_u8(r);
        v |= (int64_t)(b & 0x7f) << shift;
        shift += 7;
    } while ((b & 0x80) && shift < 64 && r->ok);
    if (shift < 64 && (b & 0x40)) v |= -((int64_t)1 << shift);
    return v;
}

static uint64_t tk_fixed(tk_reader *r, int size) {
    if (!r->ok || r->end - r->p < size) { r->ok = 0; return 0; }
    uint64_t v = 0;
    memcpy(&v, r->p, (size_t)size);  // little-endian, size <= 8
    r->p += size;
    return v;
}

// A pointer in DW_EH_PE encoding `enc`: absolute/pcrel/datarel, (s|u)data2/4/8 or uleb.
static int tk_pointer(tk_reader *r, unsigned char enc, uintptr_t datarel, uintptr_t *out) {
    if (enc == 0xff) return 0;  // omit
    uintptr_t at = (uintptr_t)r->p, v;
    switch (enc & 0x0f) {
    case 0x00: v = (uintptr_t)tk_fixed(r, 8); break;
    case 0x01: v = (uintptr_t)tk_uleb(r); break;
    case 0x02: v = (uintptr_t)(uint16_t)tk_fixed(r, 2); break;
    case 0x03: v = (uintptr_t)(uint32_t)tk_fixed(r, 4); break;
    case 0x04: v = (uintptr_t)tk_fixed(r, 8); break;
    case 0x0a: v = (uintptr_t)(intptr_t)(int16_t)tk_fixed(r, 2); break;
    case 0x0b: v = (uintptr_t)(intptr_t)(int32_t)tk_fixed(r, 4); break;
    case 0x0c: v = (uintptr_t)tk_fixed(r, 8); break;
    default: return 0;
    }
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += at; break;       // pcrel
    case 0x30: v += datarel; break;  // datarel
    default: return 0;
    }
    *out = v;
    return r->ok;
}

typedef struct {
    int cfa_reg;
    int64_t cfa_offset;
    int rbp_saved, ra_saved;        // whether the rule is offset(N)
    int64_t rbp_offset, ra_offset;  // N, from the CFA
} tk_rules;

typedef struct {
    uintptr_t loc, pc;
    uint64_t code_align;
    int64_t data_align;
    tk_rules rules, initial;
    tk_rules stack[TK_STATE_DEPTH];
    int depth;
} tk_cfa_state;

// Runs CFA instructions until the location passes `pc`. 0 on anything it does not model.
static int tk_run(tk_reader *r, tk_cfa_state *s) {
    while (r->ok && r->p < r->end) {
        unsigned char op = tk_u8(r);
        uint64_t reg = 0;
        int64_t off = 0;
        uintptr_t delta = (uintptr_t)-1;
        switch (op & 0xc0) {
        case 0x40: delta = (op & 0x3f) * s->code_align; break;
        case 0x80:
            reg = op & 0x3f;
            off = (int64_t)tk_uleb(r) * s->data_align;
            goto set_offset;
        case 0xc0:
            reg = op & 0x3f;
            goto restore;
        default: break;
        }
        if (delta == (uintptr_t)-1) {
            switch (op) {
            case 0x00: continue;  // nop
            case 0x02: delta = tk_u8(r) * s->code_align; break;
            case 0x03: delta = (uintptr_t)tk_fixed(r, 2) * s->code_align; break;
            case 0x04: delta = (uintptr_t)tk_fixed(r, 4) * s->code_align; break;
            case 0x05: reg = tk_uleb(r); off = (int64_t)tk_uleb(r) * s->data_align; goto set_offset;
            case 0x11: reg = tk_uleb(r); off = tk_sleb(r) * s->data_align; goto set_offset;
            case 0x06: reg = tk_uleb(r); goto restore;
            case 0x07: case 0x08:  // undefined, same_value
                reg = tk_uleb(r);
                if (reg == TK_REG_RA) return 0;
                if (reg == TK_REG_RBP) s->rules.rbp_saved = 0;
                continue;
            case 0x09:  // register
                reg = tk_uleb(r);
                (void)tk_uleb(r);
                if (reg == TK_REG_RA || reg == TK_REG_RBP) return 0;
                continue;
            case 0x0a:
                if (s->depth == TK_STATE_DEPTH) return 0;
                s->stack[s->depth++] = s->rules;
                continue;
            case 0x0b:
                if (s->depth == 0) return 0;
                s->rules = s->stack[--s->depth];
                continue;
            case 0x0c: s->rules.cfa_reg = (int)tk_uleb(r); s->rules.cfa_offset = (int64_t)tk_uleb(r); continue;
            case 0x12: s->rules.cfa_reg = (int)tk_uleb(r); s->rules.cfa_offset = tk_sleb(r) * s->data_align; continue;
            case 0x0d: s->rules.cfa_reg = (int)tk_uleb(r); continue;
            case 0x0e: s->rules.cfa_offset = (int64_t)tk_uleb(r); continue;
            case 0x13: s->rules.cfa_offset = tk_sleb(r) * s->data_align; continue;
            case 0x10: case 0x16: {  // expression, val_expression: fine for other registers
                reg = tk_uleb(r);
                uint64_t length = tk_uleb(r);
                if (reg == TK_REG_RA || reg == TK_REG_RBP || (uint64_t)(r->end - r->p) < length) return 0;
                r->p += length;
                continue;
            }
            case 0x14: case 0x15:  // val_offset(_sf)
                reg = tk_uleb(r);
                if (op == 0x14) (void)tk_uleb(r); else (void)tk_sleb(r);
                if (reg == TK_REG_RA || reg == TK_REG_RBP) return 0;
                continue;
            case 0x2e: (void)tk_uleb(r); continue;  // GNU_args_size
            default: return 0;  // def_cfa_expression, set_loc, anything else
            }
        }
        if (s->loc + delta > s->pc) return r->ok;  // the rules now in force cover pc
        s->loc += delta;
        continue;
    set_offset:
        if (reg == TK_REG_RBP) { s->rules.rbp_saved = 1; s->rules.rbp_offset = off; }
        if (reg == TK_REG_RA) { s->rules.ra_saved = 1; s->rules.ra_offset = off; }
        continue;
    restore:
        if (reg == TK_REG_RBP) { s->rules.rbp_saved = s->initial.rbp_saved; s->rules.rbp_offset = s->initial.rbp_offset; }
        if (reg == TK_REG_RA) { s->rules.ra_saved = s->initial.ra_saved; s->rules.ra_offset = s->initial.ra_offset; }
        continue;
    }
    return r->ok;
}

int tk_cfi_step(const tk_unwind_object *object, tk_frame *frame, uintptr_t stack_lo, uintptr_t stack_hi,
                uintptr_t **ra_slot, int at_return) {
    // A return address may be the first byte after a function ending in a
    // call: its rules are those of the call instruction before it.
    uintptr_t pc = frame->pc - (at_return ? 1 : 0);
    const unsigned char *lo = (const unsigned char *)object->ro_lo, *hi = (const unsigned char *)object->ro_hi;
    const unsigned char *hdr = (const unsigned char *)object->eh_frame_hdr;
    if (hdr < lo || hdr + 4 > hi || hdr[0] != 1) return 0;
    tk_reader r = {hdr + 4, hi, 1};
    uintptr_t eh_frame, count;
    if (!tk_pointer(&r, hdr[1], (uintptr_t)hdr, &eh_frame) || !tk_pointer(&r, hdr[2], (uintptr_t)hdr, &count)) return 0;
    if (hdr[3] != 0x3b || count == 0) return 0;  // the usual table: datarel sdata4 pairs
    const int32_t *table = (const int32_t *)r.p;
    if ((const unsigned char *)(table + 2 * count) > hi) return 0;
    // The last entry whose start is <= pc.
    size_t first = 0, last = count;
    intptr_t target = (intptr_t)(pc - (uintptr_t)hdr);
    if (table[0] > target) return 0;
    while (last - first > 1) {
        size_t mid = (first + last) / 2;
        if (table[2 * mid] <= target) first = mid; else last = mid;
    }
    const unsigned char *fde = hdr + table[2 * first + 1];
    if (fde < lo || fde + 8 > hi) return 0;
    uint32_t fde_length;
    memcpy(&fde_length, fde, 4);
    if (fde_length == 0 || fde_length == 0xffffffffu || fde + 4 + fde_length > hi) return 0;
    int32_t cie_offset;
    memcpy(&cie_offset, fde + 4, 4);
    const unsigned char *cie = fde + 4 - cie_offset;
    if (cie < lo || cie + 9 > hi) return 0;
    uint32_t cie_length;
    memcpy(&cie_length, cie, 4);
    if (cie_length == 0xffffffffu || cie + 4 + cie_length > hi || (cie[8] != 1 && cie[8] != 3)) return 0;

    // The CIE: augmentation, alignment factors, return register, pointer encoding.
    tk_reader c = {cie + 9, cie + 4 + cie_length, 1};
    const char *augmentation = (const char *)c.p;
    while (c.p < c.end && *c.p) c.p++;
    c.p++;
    tk_cfa_state s;
    memset(&s, 0, sizeof s);
    s.code_align = tk_uleb(&c);
    s.data_align = tk_sleb(&c);
    uint64_t ra_register = cie[8] == 1 ? tk_u8(&c) : tk_uleb(&c);
    if (!c.ok || ra_register != TK_REG_RA || augmentation[0] != 'z') return 0;
    uint64_t augmentation_length = tk_uleb(&c);
    const unsigned char *instructions = c.p + augmentation_length;
    unsigned char fde_encoding = 0;
    for (const char *a = augmentation + 1; *a && c.ok; a++) {
        if (*a == 'R') fde_encoding = tk_u8(&c);
        else if (*a == 'L') (void)tk_u8(&c);
        else if (*a == 'P') { uintptr_t ignored; if (!tk_pointer(&c, tk_u8(&c), 0, &ignored)) return 0; }
        else if (*a == 'S') return 0;  // a signal frame: not a call
        else return 0;
    }
    if (!c.ok || instructions > c.end) return 0;

    // The FDE: its range, then the CIE's and its own instructions.
    tk_reader f = {fde + 8, fde + 4 + fde_length, 1};
    uintptr_t begin, range;
    if (!tk_pointer(&f, fde_encoding, 0, &begin) || !tk_pointer(&f, fde_encoding & 0x0f, 0, &range)) return 0;
    if (pc < begin || pc >= begin + range) return 0;
    f.p += tk_uleb(&f);  // augmentation data (the LSDA pointer)
    if (!f.ok || f.p > f.end) return 0;
    c.p = instructions;
    s.loc = 0;
    s.pc = (uintptr_t)-1;       // the CIE's initial instructions all apply
    if (!tk_run(&c, &s)) return 0;
    s.initial = s.rules;
    s.pc = pc;
    s.loc = begin;
    if (!tk_run(&f, &s)) return 0;

    uintptr_t base = s.rules.cfa_reg == TK_REG_RSP ? frame->sp : s.rules.cfa_reg == TK_REG_RBP ? frame->fp : 0;
    if (!base || !s.rules.ra_saved) return 0;
    uintptr_t cfa = base + (uintptr_t)s.rules.cfa_offset;
    uintptr_t ra_at = cfa + (uintptr_t)s.rules.ra_offset;
    if (ra_at < stack_lo || ra_at + 8 > stack_hi || (ra_at & 7) || cfa <= frame->sp || cfa > stack_hi) return 0;
    uintptr_t caller_fp = frame->fp;
    if (s.rules.rbp_saved) {
        uintptr_t rbp_at = cfa + (uintptr_t)s.rules.rbp_offset;
        if (rbp_at < stack_lo || rbp_at + 8 > stack_hi || (rbp_at & 7)) return 0;
        caller_fp = *(const uintptr_t *)rbp_at;
    }
    *ra_slot = (uintptr_t *)ra_at;
    frame->pc = *(const uintptr_t *)ra_at;
    frame->sp = cfa;
    frame->fp = caller_fp;
    return 1;
}
