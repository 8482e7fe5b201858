#define _POSIX_C_SOURCE 200809L

#include "CExampleLibrary.h"

#include <unistd.h>

int example_parse_record(const char *record) {
    // The bug: a "directive" record takes its fields from a table that is never filled.
    const char *volatile fields = record[0] == '!' ? (const char *)0 : record;
    int sum = 0;
    for (const char *p = fields; *p != '\0'; p++) sum += (unsigned char)*p;
    return sum;
}

long example_slow_lookup(void *seconds) {
    unsigned wait = *(const unsigned *)seconds;
    sleep(wait);
    return 2L * (long)wait;
}
