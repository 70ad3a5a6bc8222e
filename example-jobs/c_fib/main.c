/*
 * The plugin `wasmcron.examples.c_fib`: a plain WASI command written in C, built with
 * clang for wasm32-wasi (see the Makefile's `plugins` target and the README).
 *
 * The host writes {"class": ..., "args": ..., "context": ...} as JSON to stdin. The
 * result goes to stdout as JSON; exit status 0 is success, anything else a failure
 * whose message is the end of stderr. Its classes are listed in manifest.json, which
 * `wasmcron manifest` attaches to the module as its `wasmcron-manifest` section.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads all of stdin into a NUL-terminated buffer. */
static char *read_stdin(void) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    if (buf) buf[len] = '\0';
    return buf;
}

/* The text right after `"key"` and its colon, or NULL. Good enough for the host's
 * request, whose keys are known; a real job would use a JSON library. */
static const char *value_of(const char *json, const char *key) {
    size_t key_len = strlen(key);
    for (const char *p = strchr(json, '"'); p; p = strchr(p + 1, '"')) {
        if (strncmp(p + 1, key, key_len) == 0 && p[1 + key_len] == '"') {
            const char *v = p + 2 + key_len;
            while (isspace((unsigned char)*v)) v++;
            if (*v != ':') continue;
            v++;
            while (isspace((unsigned char)*v)) v++;
            return v;
        }
    }
    return NULL;
}

/* Reads the integer argument `n` from the request's args; 0 on success. */
static int argument_n(const char *request, long long *n) {
    const char *args = value_of(request, "args");
    const char *v = args ? value_of(args, "n") : NULL;
    if (!v || !(isdigit((unsigned char)*v) || *v == '-')) {
        fprintf(stderr, "invalid arguments: expected {\"n\": <integer>}\n");
        return 1;
    }
    *n = strtoll(v, NULL, 10);
    return 0;
}

static int fibonacci(long long n) {
    if (n < 0 || n > 93) {
        fprintf(stderr, "n must be from 0 to 93 (a larger term overflows 64 bits), got %lld\n", n);
        return 1;
    }
    uint64_t terms[94] = {0, 1};
    for (int i = 2; i <= n; i++) terms[i] = terms[i - 1] + terms[i - 2];
    fprintf(stderr, "computed %lld terms\n", n + 1);
    printf("{\"n\": %lld, \"value\": %llu, \"last_terms\": [", n, (unsigned long long)terms[n]);
    long long first = n >= 4 ? n - 4 : 0;
    for (long long i = first; i <= n; i++) {
        printf("%s%llu", i == first ? "" : ", ", (unsigned long long)terms[i]);
    }
    printf("]}\n");
    return 0;
}

static int count_primes(long long n) {
    if (n < 2 || n > 10000000) {
        fprintf(stderr, "n must be from 2 to 10000000, got %lld\n", n);
        return 1;
    }
    char *composite = calloc((size_t)n, 1);
    if (!composite) {
        fprintf(stderr, "out of memory for a sieve of %lld\n", n);
        return 1;
    }
    long long count = 0;
    for (long long i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        for (long long j = i * i; j < n; j += i) composite[j] = 1;
    }
    free(composite);
    printf("{\"below\": %lld, \"primes\": %lld}\n", n, count);
    return 0;
}

int main(void) {
    char *request = read_stdin();
    if (!request) {
        fprintf(stderr, "cannot read the request\n");
        return 2;
    }
    const char *class = value_of(request, "class");
    long long n;
    if (!class) {
        fprintf(stderr, "the request names no class\n");
        return 2;
    }
    if (strncmp(class, "\"Fibonacci\"", 11) == 0) {
        return argument_n(request, &n) ? 1 : fibonacci(n);
    }
    if (strncmp(class, "\"CountPrimes\"", 13) == 0) {
        return argument_n(request, &n) ? 1 : count_primes(n);
    }
    fprintf(stderr, "unknown job class; this plugin has: Fibonacci, CountPrimes\n");
    return 1;
}
