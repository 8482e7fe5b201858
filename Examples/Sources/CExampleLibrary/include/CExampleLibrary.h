#ifndef CEXAMPLELIBRARY_H
#define CEXAMPLELIBRARY_H

/// Sums the bytes of a record. Has a bug a real library might have: a record
/// that starts with '!' makes it follow a null pointer (SIGSEGV).
int example_parse_record(const char *record);

/// Looks a key up slowly: blocks in sleep(3) for *(unsigned *)seconds, then
/// returns twice that. sleep is a pthread cancellation point, so
/// ThreadKill's cancellableCall can stop it. The signature is the one
/// cancellableCall takes.
long example_slow_lookup(void *seconds);

#endif
