/*
 * The plugin `wasmcron.examples.c`: a job component written in C against wit/job.wit.
 *
 * job.h and job.c are generated from the WIT world by `guest-tools bindgen c` (wit-bindgen's
 * C generator) at build time; this file implements the two exports they declare,
 * exports_job_describe and exports_job_run, and calls the host import
 * wasmcron_job_host_log. Ownership follows the canonical ABI: the arguments of run are
 * ours to free, and every string we return must be heap-allocated (the generated
 * post-return functions free them).
 *
 * Classes:
 *   Checksum   {"text": "..."}             -> {"bytes": 11, "crc32": "0d4a1185", "adler32": "1a0b045d"}
 *   WordCount  {"text": "...", "top": 3}   -> {"words": .., "distinct": .., "top": [{"word": .., "count": ..}]}
 *
 * Each class gives the JSON Schema of its arguments (world 0.3.0), so the server refuses a
 * job whose pub_args do not match when it is saved, naming the field. The checks below
 * stay: `wasmcron run --args` and older hosts pass arguments on unchecked.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"

/* ---------- output: a growable string, handed to the host as is ---------- */

typedef struct {
    char *ptr;
    size_t len, cap;
} buffer;

static void append(buffer *b, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Makes room for `n` more bytes and a terminating NUL. */
static void reserve(buffer *b, size_t n) {
    if (b->len + n + 1 <= b->cap) return;
    while (b->len + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 64;
    b->ptr = realloc(b->ptr, b->cap);
    if (!b->ptr) abort();
}

static void put(buffer *b, const char *bytes, size_t n) {
    reserve(b, n);
    memcpy(b->ptr + b->len, bytes, n);
    b->len += n;
    b->ptr[b->len] = '\0';
}

static void append(buffer *b, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int n = vsnprintf(NULL, 0, format, args);
    va_end(args);
    reserve(b, (size_t)n);
    va_start(args, format);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, format, args);
    va_end(args);
    b->len += (size_t)n;
}

/* Appends `s` (`len` bytes of UTF-8) as a JSON string. */
static void append_json_string(buffer *b, const char *s, size_t len) {
    append(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') append(b, "\\%c", c);
        else if (c < 0x20) append(b, "\\u%04x", c);
        else put(b, (const char *)&s[i], 1);
    }
    append(b, "\"");
}

/* Moves the buffer into a component-model string (no copy: the host frees it). */
static void take(buffer *b, job_string_t *out) {
    out->ptr = (uint8_t *)b->ptr;
    out->len = b->len;
}

static void log_info(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void log_info(const char *format, ...) {
    char line[256];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    job_string_t message;
    job_string_set(&message, line); /* borrowed: the import does not take ownership */
    wasmcron_job_host_log(WASMCRON_JOB_TYPES_LEVEL_INFO, &message);
}

/* ---------- input: just enough JSON to read a flat object of arguments ---------- */

typedef struct {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int hex4(const char *p, unsigned *out) {
    *out = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        unsigned digit = h >= '0' && h <= '9'   ? (unsigned)(h - '0')
                         : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                         : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
                                                : 16;
        if (digit == 16) return 0;
        *out = *out * 16 + digit;
    }
    return 1;
}

/* Reads a JSON string at the cursor; decodes it into `out` when not NULL. 0 if malformed. */
static int read_string(cursor *c, buffer *out) {
    if (c->p >= c->end || *c->p != '"') return 0;
    c->p++;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch < 0x20) return 0;
        if (ch != '\\') {
            if (out) put(out, (const char *)&ch, 1);
            continue;
        }
        if (c->p >= c->end) return 0;
        char e = *c->p++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (simple && e) {
            if (out) put(out, &"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"], 1);
            continue;
        }
        unsigned code, low;
        if (e != 'u' || c->end - c->p < 4 || !hex4(c->p, &code)) return 0;
        c->p += 4;
        if (code >= 0xD800 && code < 0xDC00) { /* a surrogate pair */
            if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' || !hex4(c->p + 2, &low) ||
                low < 0xDC00 || low > 0xDFFF)
                return 0;
            c->p += 6;
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        } else if (code >= 0xDC00 && code < 0xE000) {
            return 0;
        }
        if (!out) continue;
        char utf8[4];
        size_t n = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
        if (n == 1) {
            utf8[0] = (char)code;
        } else {
            for (size_t i = n - 1; i > 0; i--, code >>= 6) utf8[i] = (char)(0x80 | (code & 0x3F));
            static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
            utf8[0] = (char)(lead[n] | code);
        }
        put(out, utf8, n);
    }
    if (c->p >= c->end) return 0;
    c->p++;
    return 1;
}

/* Skips one JSON value of any kind. 0 if malformed. */
static int skip_value(cursor *c) {
    skip_space(c);
    if (c->p >= c->end) return 0;
    char first = *c->p;
    if (first == '"') return read_string(c, NULL);
    if (first == '{' || first == '[') {
        char close = first == '{' ? '}' : ']';
        c->p++;
        skip_space(c);
        if (c->p < c->end && *c->p == close) return c->p++, 1;
        for (;;) {
            if (first == '{') {
                skip_space(c);
                if (!read_string(c, NULL)) return 0;
                skip_space(c);
                if (c->p >= c->end || *c->p++ != ':') return 0;
            }
            if (!skip_value(c)) return 0;
            skip_space(c);
            if (c->p >= c->end) return 0;
            char next = *c->p++;
            if (next == close) return 1;
            if (next != ',') return 0;
        }
    }
    /* a number, true, false or null */
    const char *start = c->p;
    while (c->p < c->end && strchr("+-.0123456789abcdefghijklmnopqrstuvwxyzE", *c->p) && *c->p) c->p++;
    return c->p > start;
}

typedef enum { MISSING, FOUND, MALFORMED } lookup;

/* Finds member `key` of the JSON object `json`; on FOUND, `value` starts at its value. */
static lookup member(const job_string_t *json, const char *key, cursor *value) {
    cursor c = {(const char *)json->ptr, (const char *)json->ptr + json->len};
    lookup result = MISSING;
    skip_space(&c);
    if (c.p >= c.end || *c.p++ != '{') return MALFORMED;
    skip_space(&c);
    if (c.p < c.end && *c.p == '}') return MISSING;
    for (;;) {
        buffer name = {0};
        skip_space(&c);
        int ok = read_string(&c, &name);
        int matches = ok && name.len == strlen(key) && memcmp(name.ptr, key, name.len) == 0;
        free(name.ptr);
        if (!ok) return MALFORMED;
        skip_space(&c);
        if (c.p >= c.end || *c.p++ != ':') return MALFORMED;
        skip_space(&c);
        if (matches && result == MISSING) {
            *value = c;
            result = FOUND;
        }
        if (!skip_value(&c)) return MALFORMED;
        skip_space(&c);
        if (c.p >= c.end) return MALFORMED;
        char next = *c.p++;
        if (next == '}') break;
        if (next != ',') return MALFORMED;
    }
    skip_space(&c);
    return c.p == c.end ? result : MALFORMED;
}

/* The string argument `key`, decoded into `out`; NULL or an error message. */
static const char *string_argument(const job_string_t *args, const char *key, buffer *out) {
    static char message[128];
    cursor value;
    switch (member(args, key, &value)) {
    case MALFORMED: return "the arguments must be a JSON object";
    case MISSING: snprintf(message, sizeof message, "missing argument \"%s\" (a string)", key); return message;
    case FOUND: break;
    }
    if (*value.p != '"' || !read_string(&value, out)) {
        snprintf(message, sizeof message, "argument \"%s\" must be a string", key);
        return message;
    }
    return NULL;
}

/* The optional integer argument `key` from `min` to `max` (else `fallback`); NULL or an error. */
static const char *integer_argument(const job_string_t *args, const char *key, long min, long max,
                                    long fallback, long *out) {
    static char message[128];
    cursor value;
    *out = fallback;
    switch (member(args, key, &value)) {
    case MALFORMED: return "the arguments must be a JSON object";
    case MISSING: return NULL;
    case FOUND: break;
    }
    const char *start = value.p;
    int ok = skip_value(&value);
    long n = 0;
    const char *p = start + (*start == '-');
    ok = ok && p < value.p;
    for (; ok && p < value.p; p++) {
        ok = *p >= '0' && *p <= '9' && n <= max;
        n = n * 10 + (*p - '0');
    }
    if (*start == '-') n = -n;
    if (!ok || n < min || n > max) {
        snprintf(message, sizeof message, "argument \"%s\" must be an integer from %ld to %ld", key, min, max);
        return message;
    }
    *out = n;
    return NULL;
}

/* ---------- the classes ---------- */

static uint32_t crc32(const unsigned char *data, size_t len) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
    }
    return ~crc;
}

static uint32_t adler32(const unsigned char *data, size_t len) {
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < len; i++) {
        a = (a + data[i]) % 65521;
        b = (b + a) % 65521;
    }
    return (b << 16) | a;
}

static const char *checksum(const job_string_t *args, buffer *result) {
    buffer text = {0};
    const char *error = string_argument(args, "text", &text);
    if (!error) {
        uint32_t crc = crc32((unsigned char *)text.ptr, text.len);
        uint32_t adler = adler32((unsigned char *)text.ptr, text.len);
        log_info("checksummed %zu bytes", text.len);
        append(result, "{\"bytes\":%zu,\"crc32\":\"%08x\",\"adler32\":\"%08x\"}", text.len, (unsigned)crc,
               (unsigned)adler);
    }
    free(text.ptr);
    return error;
}

typedef struct {
    const char *word;
    size_t len;
    long count;
} word;

static int by_text(const void *a, const void *b) {
    const word *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int order = memcmp(x->word, y->word, n);
    return order ? order : (x->len > y->len) - (x->len < y->len);
}

static int by_count_then_text(const void *a, const void *b) {
    const word *x = a, *y = b;
    return x->count != y->count ? (x->count < y->count) - (x->count > y->count) : by_text(a, b);
}

/* A word is a run of ASCII letters, digits, apostrophes and non-ASCII bytes (UTF-8). */
static int in_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'' || c >= 0x80;
}

static const char *word_count(const job_string_t *args, buffer *result) {
    buffer text = {0};
    long top;
    const char *error = string_argument(args, "text", &text);
    if (!error) error = integer_argument(args, "top", 1, 100, 3, &top);
    if (error) {
        free(text.ptr);
        return error;
    }
    for (size_t i = 0; i < text.len; i++) {
        if (text.ptr[i] >= 'A' && text.ptr[i] <= 'Z') text.ptr[i] += 'a' - 'A';
    }
    size_t count = 0, distinct = 0;
    word *words = malloc(sizeof(word) * (text.len / 2 + 1));
    if (!words) abort();
    for (size_t i = 0; i < text.len;) {
        if (!in_word((unsigned char)text.ptr[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < text.len && in_word((unsigned char)text.ptr[i])) i++;
        words[count++] = (word){text.ptr + start, i - start, 1};
    }
    /* sort alphabetically, merge equal words, then order by count */
    qsort(words, count, sizeof(word), by_text);
    for (size_t i = 0; i < count; i++) {
        if (distinct > 0 && by_text(&words[distinct - 1], &words[i]) == 0) words[distinct - 1].count++;
        else words[distinct++] = words[i];
    }
    qsort(words, distinct, sizeof(word), by_count_then_text);
    log_info("counted %zu words, %zu distinct", count, distinct);
    append(result, "{\"words\":%zu,\"distinct\":%zu,\"top\":[", count, distinct);
    for (size_t i = 0; i < distinct && i < (size_t)top; i++) {
        append(result, "%s{\"word\":", i ? "," : "");
        append_json_string(result, words[i].word, words[i].len);
        append(result, ",\"count\":%ld}", words[i].count);
    }
    append(result, "]}");
    free(words);
    free(text.ptr);
    return NULL;
}

/* ---------- the exports ---------- */

typedef struct {
    const char *name, *type, *description;
} argument_doc;

static void describe_class(job_job_class_t *class_, const char *name, const char *notes, const char *example,
                           const char *schema, const argument_doc *docs, size_t count) {
    job_string_dup(&class_->name, name);
    job_string_dup(&class_->notes, notes);
    job_string_dup(&class_->example_arguments, example);
    class_->arguments_schema.is_some = true;
    job_string_dup(&class_->arguments_schema.val, schema);
    class_->arguments.len = count;
    class_->arguments.ptr = malloc(sizeof(wasmcron_job_types_argument_t) * count);
    if (!class_->arguments.ptr) abort();
    for (size_t i = 0; i < count; i++) {
        job_string_dup(&class_->arguments.ptr[i].name, docs[i].name);
        job_string_dup(&class_->arguments.ptr[i].type, docs[i].type);
        job_string_dup(&class_->arguments.ptr[i].description, docs[i].description);
    }
}

void exports_job_describe(job_list_job_class_t *ret) {
    static const argument_doc checksum_args[] = {
        {"text", "string", "The text to checksum, as UTF-8 bytes."},
    };
    static const argument_doc word_count_args[] = {
        {"text", "string", "The text whose words are counted (case-insensitively)."},
        {"top", "integer", "How many of the most frequent words to list, 1 to 100; 3 when absent."},
    };
    ret->len = 2;
    ret->ptr = malloc(sizeof(job_job_class_t) * ret->len);
    if (!ret->ptr) abort();
    /* The JSON Schemas of the arguments, as JSON text: what the parsing above accepts. */
    static const char checksum_schema[] =
        "{\"type\": \"object\","
        " \"properties\": {\"text\": {\"type\": \"string\", \"description\": \"The text to checksum.\"}},"
        " \"required\": [\"text\"], \"additionalProperties\": false}";
    static const char word_count_schema[] =
        "{\"type\": \"object\","
        " \"properties\": {"
        "\"text\": {\"type\": \"string\", \"description\": \"The text whose words are counted.\"},"
        " \"top\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100,"
        " \"description\": \"How many of the most frequent words to list (3 when absent).\"}},"
        " \"required\": [\"text\"], \"additionalProperties\": false}";
    describe_class(&ret->ptr[0], "Checksum",
                   "Computes the CRC-32 and Adler-32 checksums of a text; the result has its length in "
                   "bytes and both checksums as 8 hex digits.",
                   "{\"text\": \"hello world\"}", checksum_schema, checksum_args, 1);
    describe_class(&ret->ptr[1], "WordCount",
                   "Counts the words of a text and lists the most frequent ones (ties in alphabetical order).",
                   "{\"text\": \"the cat and the hat\", \"top\": 2}", word_count_schema, word_count_args, 2);
}

bool exports_job_run(job_context_t *ctx, job_string_t *class_, job_string_t *args, job_string_t *ret,
                     job_string_t *err) {
    buffer result = {0};
    const char *error;
    char unknown[160];
    if (class_->len == 8 && memcmp(class_->ptr, "Checksum", 8) == 0) {
        error = checksum(args, &result);
    } else if (class_->len == 9 && memcmp(class_->ptr, "WordCount", 9) == 0) {
        error = word_count(args, &result);
    } else {
        snprintf(unknown, sizeof unknown, "unknown class \"%.*s\" (this plugin has Checksum and WordCount)",
                 (int)(class_->len < 64 ? class_->len : 64), (const char *)class_->ptr);
        error = unknown;
    }
    bool ok = error == NULL;
    if (ok) {
        take(&result, ret);
    } else {
        free(result.ptr);
        job_string_dup(err, error);
    }
    job_context_free(ctx);
    job_string_free(class_);
    job_string_free(args);
    return ok;
}
