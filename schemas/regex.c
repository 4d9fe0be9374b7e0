/* ECMA-262 regular expressions (JSON Schema "pattern") run by PCRE2.
 *
 * A pattern is read as ECMA-262 with the u flag (JSON Schema asks for
 * Unicode semantics: \p{...} works, code points are matched, not UTF-16
 * units) by a recursive-descent parser that checks the ECMA grammar and, in
 * the same walk, writes an equivalent PCRE2 pattern in which every construct
 * is spelled out: literals as \x{...}, "." and \s as explicit classes, "^"
 * and "$" as \A and \z, named groups as numbered ones. PCRE2 never sees ECMA
 * source text, so its own extensions (possessive quantifiers, \Z, \a, (?#),
 * inline flags, (?P<...>), ...) cannot slip through as valid.
 *
 * Every match runs under a step budget (PCRE2's match limit, which the JIT
 * counts over the whole subject), a heap limit and a bounded JIT stack, so a
 * hostile pattern fails fast with TG_REGEX_ELIMIT instead of stalling a
 * worker thread.
 *
 * Known differences, all at the edges: captures inside a quantified group
 * are not reset at each iteration (visible only through backreferences);
 * under the i modifier \p{...} does not case-fold and [\W] still takes
 * U+017F and U+212A; duplicate group names (ES2025, in different
 * alternatives) are refused; script names in \p{Script=...} are matched
 * loosely. tg_regex_compile also refuses valid ECMA-262 that PCRE2 10.42
 * cannot run (variable-length lookbehind, {n,m} bounds above 65535,
 * \p{Changes_When_NFKC_Casefolded}) and patterns past its own limits
 * (4096 bytes, 200 nested groups), each with a message saying so.
 *
 * Invariant: a compiled tg_regex is immutable and may be shared by any
 * number of threads; all per-match state (match data, match context, JIT
 * stack) lives in a per-thread cache that is freed when the thread exits. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "schemas/regex.h"

#include "gateway/core/alloc.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    /* Longer patterns are refused by tg_regex_compile: schema authors do not
     * need more, and translation and PCRE2 compile time grow with length. */
    RX_MAX_PATTERN = 4096,
    /* PCRE2's own default parenthesis nesting limit is 250; the translation
     * adds at most a couple of levels. */
    RX_MAX_DEPTH = 200,
    /* Steps per search: a base plus an allowance per subject byte, so a long
     * but ordinary subject is not refused while the worst case stays linear
     * in the input (about 1 ms per million steps with the JIT). */
    RX_MATCH_LIMIT = 1000000,
    RX_MATCH_PER_BYTE = 32,
    /* The interpreter (used only when the JIT is unavailable) keeps its
     * backtracking frames on the heap: a base plus an allowance per byte. */
    RX_HEAP_LIMIT_KIB = 8192,
    RX_HEAP_PER_KIB = 64,
    /* Each thread keeps a JIT stack of up to 1 MiB, enough for repeats over
     * some 60,000 characters. A longer subject that needs more is given a
     * one-off stack of RX_JIT_STACK_PER_BYTE times its length (capped),
     * returned to the system after the search. */
    RX_JIT_STACK_MIN = 32 * 1024,
    RX_JIT_STACK_MAX = 1024 * 1024,
    RX_JIT_STACK_PER_BYTE = 32,
    RX_JIT_STACK_HUGE = 64 * 1024 * 1024,
    /* PCRE2 refuses larger {n,m} bounds. */
    RX_MAX_REPEAT = 65535,
    /* Subjects above this size may make the interpreter grow the frame
     * vector it keeps in the match data; drop it afterwards rather than keep
     * it for the thread's lifetime. */
    RX_BIG_SUBJECT = 64 * 1024,
};

#define RX_INF UINT32_MAX

/* ECMA WhiteSpace and LineTerminator (\s), and their complement over all code
 * points, usable inside a PCRE2 class. */
#define RX_WS                                                                                      \
    "\\x{9}-\\x{d}\\x{20}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}"  \
    "\\x{3000}\\x{feff}"
#define RX_NOT_WS                                                                                  \
    "\\x{0}-\\x{8}\\x{e}-\\x{1f}\\x{21}-\\x{9f}\\x{a1}-\\x{167f}\\x{1681}-\\x{1fff}"               \
    "\\x{200b}-\\x{2027}\\x{202a}-\\x{202e}\\x{2030}-\\x{205e}\\x{2060}-\\x{2fff}"                 \
    "\\x{3001}-\\x{fefe}\\x{ff00}-\\x{10ffff}"
/* ECMA LineTerminator: what "." skips and where multiline ^ and $ match. */
#define RX_LT "\\n\\r\\x{2028}\\x{2029}"

struct tg_regex {
    pcre2_code *code;
    bool jit;
};

/* ---- output buffer ---------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} rx_buf;

static void buf_put(rx_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = tg_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_puts(rx_buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* A code point as a PCRE2 literal that means the same inside or outside a
 * class: letters and digits as themselves, everything else as \x{...}. */
static void buf_cp(rx_buf *b, uint32_t cp)
{
    char tmp[16];
    if ((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) {
        tmp[0] = (char)cp;
        buf_put(b, tmp, 1);
        return;
    }
    int n = snprintf(tmp, sizeof tmp, "\\x{%x}", (unsigned)cp);
    buf_put(b, tmp, (size_t)n);
}

static void buf_utf8(rx_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_put(b, u, n);
}

/* Decodes one well-formed UTF-8 sequence; returns its length, or 0 for an
 * ill-formed one (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1Fu;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0Fu;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* ---- per-thread match state ------------------------------------------- */

typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;
} rx_tls;

static pthread_key_t rx_key;
static pthread_once_t rx_key_once = PTHREAD_ONCE_INIT;
/* The fast path reads this; the pthread key exists only so that the
 * destructor frees the cache when the thread exits. */
static _Thread_local rx_tls *rx_tls_cur;

static _Noreturn void rx_oom(void)
{
    fputs("toolgate: out of memory in the regex engine\n", stderr);
    abort();
}

static void rx_tls_free(void *p)
{
    rx_tls *t = p;
    if (!t) return;
    pcre2_match_data_free(t->md);
    pcre2_match_context_free(t->mc);
    pcre2_jit_stack_free(t->js);
    free(t);
    rx_tls_cur = NULL;
}

static void rx_key_init(void)
{
    if (pthread_key_create(&rx_key, rx_tls_free) != 0) rx_oom();
}

static rx_tls *rx_tls_get(void)
{
    rx_tls *t = rx_tls_cur;
    if (t) return t;
    pthread_once(&rx_key_once, rx_key_init);
    t = tg_xcalloc(1, sizeof *t);
    /* One ovector pair is enough: callers only ask whether there is a match. */
    t->md = pcre2_match_data_create(1, NULL);
    t->mc = pcre2_match_context_create(NULL);
    if (!t->md || !t->mc) rx_oom();
    /* Depth is bounded by the heap limit; the match limit is set per search. */
    pcre2_set_depth_limit(t->mc, UINT32_MAX);
    /* Without its own stack the JIT has 32 KiB of machine stack, which long
     * subjects with nested repeats exhaust; a failed mmap just keeps that. */
    t->js = pcre2_jit_stack_create(RX_JIT_STACK_MIN, RX_JIT_STACK_MAX, NULL);
    if (t->js) pcre2_jit_stack_assign(t->mc, NULL, t->js);
    if (pthread_setspecific(rx_key, t) != 0) rx_oom();
    rx_tls_cur = t;
    return t;
}

static pcre2_code *rx_id_start_re, *rx_id_continue_re;
static pthread_once_t rx_id_once = PTHREAD_ONCE_INIT;

static void rx_id_init(void)
{
    int ec;
    PCRE2_SIZE eo;
    rx_id_start_re = pcre2_compile((PCRE2_SPTR) "\\A\\p{ID_Start}\\z", PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF, &ec, &eo, NULL);
    rx_id_continue_re = pcre2_compile((PCRE2_SPTR) "\\A\\p{ID_Continue}\\z", PCRE2_ZERO_TERMINATED,
                                      PCRE2_UTF, &ec, &eo, NULL);
}

/* Whether code point cp has a Unicode property, asked of PCRE2 through a
 * one-character pattern (group names need ID_Start and ID_Continue, which C
 * has no table for). Only non-ASCII names get here. */
static bool rx_cp_matches(pcre2_code *const *re, uint32_t cp)
{
    pthread_once(&rx_id_once, rx_id_init);
    if (!*re) return false;
    rx_buf b = {0};
    buf_utf8(&b, cp);
    int rc = pcre2_match(*re, (PCRE2_SPTR)b.p, b.len, 0, 0, rx_tls_get()->md, NULL);
    free(b.p);
    return rc >= 0;
}

static bool rx_is_id_start(uint32_t cp)
{
    if (cp < 0x80)
        return cp == '$' || cp == '_' || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    return rx_cp_matches(&rx_id_start_re, cp);
}

static bool rx_is_id_continue(uint32_t cp)
{
    if (cp < 0x80) return rx_is_id_start(cp) || (cp >= '0' && cp <= '9');
    if (cp == 0x200C || cp == 0x200D) return true;
    return rx_cp_matches(&rx_id_continue_re, cp);
}

/* ---- Unicode property names ------------------------------------------- */

/* General_Category values as ECMA-262 spells them (canonical names and
 * aliases, case-sensitive) and the PCRE2 short name for each. */
static const struct {
    const char *name;
    const char *pcre;
} rx_gc[] = {
    {"C", "C"},
    {"Other", "C"},
    {"Cc", "Cc"},
    {"Control", "Cc"},
    {"cntrl", "Cc"},
    {"Cf", "Cf"},
    {"Format", "Cf"},
    {"Cn", "Cn"},
    {"Unassigned", "Cn"},
    {"Co", "Co"},
    {"Private_Use", "Co"},
    {"Cs", "Cs"},
    {"Surrogate", "Cs"},
    {"L", "L"},
    {"Letter", "L"},
    {"LC", "L&"},
    {"Cased_Letter", "L&"},
    {"Ll", "Ll"},
    {"Lowercase_Letter", "Ll"},
    {"Lm", "Lm"},
    {"Modifier_Letter", "Lm"},
    {"Lo", "Lo"},
    {"Other_Letter", "Lo"},
    {"Lt", "Lt"},
    {"Titlecase_Letter", "Lt"},
    {"Lu", "Lu"},
    {"Uppercase_Letter", "Lu"},
    {"M", "M"},
    {"Mark", "M"},
    {"Combining_Mark", "M"},
    {"Mc", "Mc"},
    {"Spacing_Mark", "Mc"},
    {"Me", "Me"},
    {"Enclosing_Mark", "Me"},
    {"Mn", "Mn"},
    {"Nonspacing_Mark", "Mn"},
    {"N", "N"},
    {"Number", "N"},
    {"Nd", "Nd"},
    {"Decimal_Number", "Nd"},
    {"digit", "Nd"},
    {"Nl", "Nl"},
    {"Letter_Number", "Nl"},
    {"No", "No"},
    {"Other_Number", "No"},
    {"P", "P"},
    {"Punctuation", "P"},
    {"punct", "P"},
    {"Pc", "Pc"},
    {"Connector_Punctuation", "Pc"},
    {"Pd", "Pd"},
    {"Dash_Punctuation", "Pd"},
    {"Pe", "Pe"},
    {"Close_Punctuation", "Pe"},
    {"Pf", "Pf"},
    {"Final_Punctuation", "Pf"},
    {"Pi", "Pi"},
    {"Initial_Punctuation", "Pi"},
    {"Po", "Po"},
    {"Other_Punctuation", "Po"},
    {"Ps", "Ps"},
    {"Open_Punctuation", "Ps"},
    {"S", "S"},
    {"Symbol", "S"},
    {"Sc", "Sc"},
    {"Currency_Symbol", "Sc"},
    {"Sk", "Sk"},
    {"Modifier_Symbol", "Sk"},
    {"Sm", "Sm"},
    {"Math_Symbol", "Sm"},
    {"So", "So"},
    {"Other_Symbol", "So"},
    {"Z", "Z"},
    {"Separator", "Z"},
    {"Zl", "Zl"},
    {"Line_Separator", "Zl"},
    {"Zp", "Zp"},
    {"Paragraph_Separator", "Zp"},
    {"Zs", "Zs"},
    {"Space_Separator", "Zs"},
};

/* The binary properties ECMA-262 allows in \p{...}, with the PCRE2 name
 * (NULL: valid ECMA-262 that PCRE2 10.42 cannot match) and whether the PCRE2
 * property is the complement ("Assigned" is "not Cn"). */
static const struct {
    const char *name;
    const char *alias;
    const char *pcre;
    bool invert;
} rx_binprop[] = {
    {"ASCII", NULL, "ASCII", false},
    {"ASCII_Hex_Digit", "AHex", "ASCII_Hex_Digit", false},
    {"Alphabetic", "Alpha", "Alphabetic", false},
    {"Any", NULL, "Any", false},
    {"Assigned", NULL, "Cn", true},
    {"Bidi_Control", "Bidi_C", "Bidi_Control", false},
    {"Bidi_Mirrored", "Bidi_M", "Bidi_Mirrored", false},
    {"Case_Ignorable", "CI", "Case_Ignorable", false},
    {"Cased", NULL, "Cased", false},
    {"Changes_When_Casefolded", "CWCF", "Changes_When_Casefolded", false},
    {"Changes_When_Casemapped", "CWCM", "Changes_When_Casemapped", false},
    {"Changes_When_Lowercased", "CWL", "Changes_When_Lowercased", false},
    {"Changes_When_NFKC_Casefolded", "CWKCF", NULL, false},
    {"Changes_When_Titlecased", "CWT", "Changes_When_Titlecased", false},
    {"Changes_When_Uppercased", "CWU", "Changes_When_Uppercased", false},
    {"Dash", NULL, "Dash", false},
    {"Default_Ignorable_Code_Point", "DI", "Default_Ignorable_Code_Point", false},
    {"Deprecated", "Dep", "Deprecated", false},
    {"Diacritic", "Dia", "Diacritic", false},
    {"Emoji", NULL, "Emoji", false},
    {"Emoji_Component", "EComp", "Emoji_Component", false},
    {"Emoji_Modifier", "EMod", "Emoji_Modifier", false},
    {"Emoji_Modifier_Base", "EBase", "Emoji_Modifier_Base", false},
    {"Emoji_Presentation", "EPres", "Emoji_Presentation", false},
    {"Extended_Pictographic", "ExtPict", "Extended_Pictographic", false},
    {"Extender", "Ext", "Extender", false},
    {"Grapheme_Base", "Gr_Base", "Grapheme_Base", false},
    {"Grapheme_Extend", "Gr_Ext", "Grapheme_Extend", false},
    {"Hex_Digit", "Hex", "Hex_Digit", false},
    {"IDS_Binary_Operator", "IDSB", "IDS_Binary_Operator", false},
    {"IDS_Trinary_Operator", "IDST", "IDS_Trinary_Operator", false},
    {"ID_Continue", "IDC", "ID_Continue", false},
    {"ID_Start", "IDS", "ID_Start", false},
    {"Ideographic", "Ideo", "Ideographic", false},
    {"Join_Control", "Join_C", "Join_Control", false},
    {"Logical_Order_Exception", "LOE", "Logical_Order_Exception", false},
    {"Lowercase", "Lower", "Lowercase", false},
    {"Math", NULL, "Math", false},
    {"Noncharacter_Code_Point", "NChar", "Noncharacter_Code_Point", false},
    {"Pattern_Syntax", "Pat_Syn", "Pattern_Syntax", false},
    {"Pattern_White_Space", "Pat_WS", "Pattern_White_Space", false},
    {"Quotation_Mark", "QMark", "Quotation_Mark", false},
    {"Radical", NULL, "Radical", false},
    {"Regional_Indicator", "RI", "Regional_Indicator", false},
    {"Sentence_Terminal", "STerm", "Sentence_Terminal", false},
    {"Soft_Dotted", "SD", "Soft_Dotted", false},
    {"Terminal_Punctuation", "Term", "Terminal_Punctuation", false},
    {"Unified_Ideograph", "UIdeo", "Unified_Ideograph", false},
    {"Uppercase", "Upper", "Uppercase", false},
    {"Variation_Selector", "VS", "Variation_Selector", false},
    {"White_Space", "space", "White_Space", false},
    {"XID_Continue", "XIDC", "XID_Continue", false},
    {"XID_Start", "XIDS", "XID_Start", false},
};

#define RX_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool str_is(const char *s, size_t n, const char *lit)
{
    return lit && strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* ---- the ECMA-262 parser and translator ------------------------------- */

typedef struct {
    char *name; /* UTF-8, escapes resolved */
    size_t len;
    unsigned group;
} rx_name;

typedef struct {
    size_t out, src;
} rx_mark;

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    rx_buf *out; /* NULL: check only */
    bool pass2;  /* group count and names are known */
    bool engine; /* also refuse valid ECMA-262 that PCRE2 cannot run */
    unsigned ngroups, groups_seen, depth;
    bool icase, multiline, dotall;
    rx_name *names;
    size_t nnames, names_cap;
    rx_mark *marks; /* translated offset -> pattern offset, for PCRE2 errors */
    size_t nmarks, marks_cap;
    char **scripts; /* script names PCRE2 has already accepted */
    size_t nscripts;
    const char *err;
    size_t err_at;
    char errbuf[96];
} rx_parser;

static bool fail(rx_parser *ps, size_t at, const char *msg)
{
    if (!ps->err) {
        ps->err = msg;
        ps->err_at = at;
    }
    return false;
}

static bool failf_escape(rx_parser *ps, size_t at, const char *what, unsigned char c)
{
    if (c >= 0x21 && c < 0x7F)
        snprintf(ps->errbuf, sizeof ps->errbuf, "%s '\\%c'", what, c);
    else
        snprintf(ps->errbuf, sizeof ps->errbuf, "%s", what);
    return fail(ps, at, ps->errbuf);
}

static void emit(rx_parser *ps, const char *s)
{
    if (ps->out) buf_puts(ps->out, s);
}

static void emit_cp(rx_parser *ps, uint32_t cp)
{
    if (ps->out) buf_cp(ps->out, cp);
}

static void mark(rx_parser *ps)
{
    if (!ps->out) return;
    if (ps->nmarks == ps->marks_cap) {
        ps->marks_cap = ps->marks_cap ? ps->marks_cap * 2 : 32;
        ps->marks = tg_xrealloc(ps->marks, ps->marks_cap * sizeof *ps->marks);
    }
    ps->marks[ps->nmarks++] = (rx_mark){ps->out->len, ps->pos};
}

static bool at(const rx_parser *ps, char c)
{
    return ps->pos < ps->len && ps->s[ps->pos] == (unsigned char)c;
}

static bool at_off(const rx_parser *ps, size_t off, char c)
{
    return ps->pos + off < ps->len && ps->s[ps->pos + off] == (unsigned char)c;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool is_syntax_char(unsigned char c)
{
    return c && strchr("^$\\.*+?()[]{}|", c) != NULL;
}

/* Reads exactly n hex digits at pos. */
static bool read_hex(rx_parser *ps, size_t n, uint32_t *v)
{
    uint32_t x = 0;
    for (size_t i = 0; i < n; i++) {
        int h = ps->pos + i < ps->len ? hexval(ps->s[ps->pos + i]) : -1;
        if (h < 0) return false;
        x = x * 16 + (uint32_t)h;
    }
    ps->pos += n;
    *v = x;
    return true;
}

/* RegExpUnicodeEscapeSequence[+UnicodeMode], pos just after the 'u'. A lead
 * surrogate escape followed by a trail surrogate escape is one code point. */
static bool parse_unicode_escape(rx_parser *ps, size_t at_pos, uint32_t *cp)
{
    if (at(ps, '{')) {
        ps->pos++;
        uint32_t v = 0;
        size_t digits = 0;
        int h;
        while (ps->pos < ps->len && (h = hexval(ps->s[ps->pos])) >= 0) {
            v = v * 16 + (uint32_t)h;
            if (v > 0x10FFFF) return fail(ps, at_pos, "\\u{...} escape above U+10FFFF");
            ps->pos++;
            digits++;
        }
        if (!digits || !at(ps, '}')) return fail(ps, at_pos, "invalid \\u{...} escape");
        ps->pos++;
        *cp = v;
        return true;
    }
    uint32_t v;
    if (!read_hex(ps, 4, &v))
        return fail(ps, at_pos, "invalid \\u escape (needs 4 hex digits or {...})");
    if (v >= 0xD800 && v <= 0xDBFF && at(ps, '\\') && at_off(ps, 1, 'u')) {
        size_t save = ps->pos;
        uint32_t lo;
        ps->pos += 2;
        if (read_hex(ps, 4, &lo) && lo >= 0xDC00 && lo <= 0xDFFF)
            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        else
            ps->pos = save;
    }
    *cp = v;
    return true;
}

/* CharacterEscape[+UnicodeMode], pos at the character after the backslash
 * (already known not to be a class escape, a backreference or \b). */
static bool parse_char_escape(rx_parser *ps, size_t at_pos, uint32_t *cp)
{
    unsigned char c = ps->s[ps->pos];
    switch (c) {
    case 'f':
        *cp = 0x0C;
        break;
    case 'n':
        *cp = 0x0A;
        break;
    case 'r':
        *cp = 0x0D;
        break;
    case 't':
        *cp = 0x09;
        break;
    case 'v':
        *cp = 0x0B;
        break;
    case 'c': {
        unsigned char l = ps->pos + 1 < ps->len ? ps->s[ps->pos + 1] : 0;
        if (!((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z')))
            return fail(ps, at_pos, "\\c must be followed by an ASCII letter");
        *cp = l % 32u;
        ps->pos += 2;
        return true;
    }
    case '0':
        if (ps->pos + 1 < ps->len && ps->s[ps->pos + 1] >= '0' && ps->s[ps->pos + 1] <= '9')
            return fail(ps, at_pos, "invalid decimal escape (\\0 followed by a digit)");
        *cp = 0;
        break;
    case 'x':
        ps->pos++;
        if (!read_hex(ps, 2, cp))
            return fail(ps, at_pos, "invalid \\x escape (needs 2 hex digits)");
        return true;
    case 'u':
        ps->pos++;
        return parse_unicode_escape(ps, at_pos, cp);
    default:
        if (is_syntax_char(c) || c == '/') {
            *cp = c;
            break;
        }
        return failf_escape(ps, at_pos, "invalid escape", c);
    }
    ps->pos++;
    return true;
}

static bool script_known(rx_parser *ps, const char *kind, const char *v, size_t n)
{
    for (size_t i = 0; i < ps->nscripts; i++)
        if (str_is(v, n, ps->scripts[i])) return true;
    rx_buf b = {0};
    buf_puts(&b, "\\p{");
    buf_puts(&b, kind);
    buf_put(&b, v, n);
    buf_puts(&b, "}");
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)b.p, b.len, PCRE2_UTF, &ec, &eo, NULL);
    free(b.p);
    if (!c) return false;
    pcre2_code_free(c);
    ps->scripts = tg_xrealloc(ps->scripts, (ps->nscripts + 1) * sizeof *ps->scripts);
    ps->scripts[ps->nscripts++] = tg_xstrndup(v, n);
    return true;
}

/* \p{...} or \P{...}, pos at the 'p' or 'P'. Writes the PCRE2 spelling to
 * text (a fixed form that works inside and outside a class). */
static bool parse_property(rx_parser *ps, size_t at_pos, rx_buf *text)
{
    bool neg = ps->s[ps->pos] == 'P';
    ps->pos++;
    if (!at(ps, '{')) return fail(ps, at_pos, "\\p and \\P must be followed by {property}");
    ps->pos++;
    const char *name = (const char *)ps->s + ps->pos, *value = NULL;
    size_t nlen = 0, vlen = 0;
    while (ps->pos < ps->len) {
        unsigned char c = ps->s[ps->pos];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            break;
        ps->pos++;
        nlen++;
    }
    if (at(ps, '=')) {
        ps->pos++;
        value = (const char *)ps->s + ps->pos;
        while (ps->pos < ps->len) {
            unsigned char c = ps->s[ps->pos];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_'))
                break;
            ps->pos++;
            vlen++;
        }
    }
    if (!at(ps, '}') || !nlen || (value && !vlen))
        return fail(ps, at_pos, "invalid \\p{...} property expression");
    ps->pos++;

    const char *pcre = NULL, *prefix = "";
    bool invert = false, unsupported = false;
    if (value) {
        if (str_is(name, nlen, "General_Category") || str_is(name, nlen, "gc")) {
            for (size_t i = 0; i < RX_COUNT(rx_gc); i++)
                if (str_is(value, vlen, rx_gc[i].name)) pcre = rx_gc[i].pcre;
        } else if (str_is(name, nlen, "Script") || str_is(name, nlen, "sc")) {
            prefix = "sc:";
        } else if (str_is(name, nlen, "Script_Extensions") || str_is(name, nlen, "scx")) {
            prefix = "scx:";
        } else {
            return fail(ps, at_pos, "unknown Unicode property name in \\p{...}");
        }
        if (*prefix) {
            if (!script_known(ps, prefix, value, vlen))
                return fail(ps, at_pos, "unknown script in \\p{...}");
        } else if (!pcre) {
            return fail(ps, at_pos, "unknown General_Category value in \\p{...}");
        }
    } else {
        for (size_t i = 0; i < RX_COUNT(rx_gc) && !pcre; i++)
            if (str_is(name, nlen, rx_gc[i].name)) pcre = rx_gc[i].pcre;
        for (size_t i = 0; i < RX_COUNT(rx_binprop) && !pcre && !unsupported; i++) {
            if (str_is(name, nlen, rx_binprop[i].name) || str_is(name, nlen, rx_binprop[i].alias)) {
                pcre = rx_binprop[i].pcre;
                invert = rx_binprop[i].invert;
                unsupported = !pcre;
            }
        }
        if (unsupported) {
            if (ps->engine)
                return fail(ps, at_pos, "this Unicode property is not supported by the engine");
            pcre = "Any";
        }
        if (!pcre) return fail(ps, at_pos, "unknown Unicode property in \\p{...}");
    }
    buf_puts(text, (neg != invert) ? "\\P{" : "\\p{");
    if (*prefix) {
        buf_puts(text, prefix);
        buf_put(text, value, vlen);
    } else {
        buf_puts(text, pcre);
    }
    buf_puts(text, "}");
    return true;
}

/* Under the i flag ECMA-262's word characters also take U+017F and U+212A,
 * which case-fold to 's' and 'k' (WordCharacters, ES2020). Outside a class
 * the set is spelled out with caseless matching switched off, since it is
 * already closed under case folding. */
#define RX_IWORD       "\\w\\x{17f}\\x{212a}"
#define RX_IWORD_CLASS "(?-i:[" RX_IWORD "])"
#define RX_IWORD_BOUNDARY                                                                          \
    "(?-i:(?<=[" RX_IWORD "])(?![" RX_IWORD "])|(?<![" RX_IWORD "])(?=[" RX_IWORD "]))"
#define RX_IWORD_NOT_BOUNDARY                                                                      \
    "(?-i:(?<=[" RX_IWORD "])(?=[" RX_IWORD "])|(?<![" RX_IWORD "])(?![" RX_IWORD "]))"

/* A class escape letter (d D w W s S) in PCRE2 form; inside a class \s and
 * \S become range lists, outside they are whole classes. PCRE2 without UCP
 * keeps \d and \w ASCII-only, as ECMA-262 has them. One known difference:
 * \W inside a class under the i flag still takes U+017F and U+212A (a
 * spelled-out complement would be case-expanded by PCRE2 into other
 * letters). */
static const char *class_escape(unsigned char c, bool in_class, bool icase)
{
    switch (c) {
    case 'd':
        return "\\d";
    case 'D':
        return "\\D";
    case 'w':
        return !icase ? "\\w" : in_class ? RX_IWORD : RX_IWORD_CLASS;
    case 'W':
        return !icase || in_class ? "\\W" : "(?-i:[^" RX_IWORD "])";
    case 's':
        return in_class ? RX_WS : "[" RX_WS "]";
    case 'S':
        return in_class ? RX_NOT_WS : "[^" RX_WS "]";
    default:
        return NULL;
    }
}

/* GroupName after "(?<" or "\k<": RegExpIdentifierName then '>'. */
static bool parse_group_name(rx_parser *ps, size_t at_pos, rx_buf *name)
{
    bool first = true;
    for (;;) {
        if (ps->pos >= ps->len) return fail(ps, at_pos, "unterminated group name");
        if (ps->s[ps->pos] == '>') {
            if (first) return fail(ps, at_pos, "empty group name");
            ps->pos++;
            return true;
        }
        uint32_t cp;
        if (ps->s[ps->pos] == '\\') {
            ps->pos++;
            if (!at(ps, 'u')) return fail(ps, at_pos, "invalid escape in group name");
            ps->pos++;
            if (!parse_unicode_escape(ps, at_pos, &cp)) return false;
        } else {
            size_t n = utf8_decode(ps->s + ps->pos, ps->len - ps->pos, &cp);
            ps->pos += n;
        }
        if (first ? !rx_is_id_start(cp) : !rx_is_id_continue(cp))
            return fail(ps, at_pos, "invalid character in group name");
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return fail(ps, at_pos, "invalid character in group name");
        buf_utf8(name, cp);
        first = false;
    }
}

static int name_cmp(const void *a, const void *b)
{
    const rx_name *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return memcmp(x->name, y->name, x->len);
}

static const rx_name *find_name(const rx_parser *ps, const char *n, size_t len)
{
    rx_name key = {(char *)n, len, 0};
    if (!ps->nnames) return NULL;
    return bsearch(&key, ps->names, ps->nnames, sizeof *ps->names, name_cmp);
}

static bool parse_disjunction(rx_parser *ps);

static bool no_quantifier(rx_parser *ps)
{
    if (ps->pos < ps->len && strchr("*+?{", ps->s[ps->pos]))
        return fail(ps, ps->pos, "nothing to repeat (assertions cannot be quantified)");
    return true;
}

/* (?=, (?!, (?<=, (?<!: pos at '(', skip is the length of the opener. */
static bool parse_lookaround(rx_parser *ps, size_t skip, const char *open)
{
    size_t start = ps->pos;
    if (++ps->depth > RX_MAX_DEPTH) return fail(ps, start, "groups nested too deeply");
    ps->pos += skip;
    emit(ps, open);
    if (!parse_disjunction(ps)) return false;
    if (!at(ps, ')')) return fail(ps, start, "missing ')'");
    ps->pos++;
    emit(ps, ")");
    ps->depth--;
    return no_quantifier(ps);
}

/* (?ims-ims: ... ), pos after "(?". */
static bool parse_modifiers(rx_parser *ps, size_t start, rx_buf *open)
{
    unsigned add = 0, rem = 0;
    bool dash = false;
    while (ps->pos < ps->len) {
        unsigned char c = ps->s[ps->pos];
        unsigned bit = c == 'i' ? 1u : c == 'm' ? 2u : c == 's' ? 4u : 0u;
        if (c == '-' && !dash) {
            dash = true;
        } else if (!bit) {
            break;
        } else if ((add | rem) & bit) {
            return fail(ps, start, "repeated flag in a modifier group");
        } else if (dash) {
            rem |= bit;
        } else {
            add |= bit;
        }
        ps->pos++;
    }
    if (!at(ps, ':'))
        return fail(ps, start,
                    "invalid group: '(?' must be followed by ':', '=', '!', '<=', '<!', '<name>' "
                    "or flags and ':' (ECMA-262 has no inline flags like (?i))");
    if (dash && !add && !rem) return fail(ps, start, "empty modifier group (?-:");
    ps->pos++;
    buf_puts(open, "(?");
    if (add & 1u) buf_puts(open, "i");
    if (rem & 1u) buf_puts(open, "-i");
    buf_puts(open, ":");
    if (add & 1u) ps->icase = true;
    if (rem & 1u) ps->icase = false;
    if (add & 2u) ps->multiline = true;
    if (rem & 2u) ps->multiline = false;
    if (add & 4u) ps->dotall = true;
    if (rem & 4u) ps->dotall = false;
    return true;
}

static bool parse_group(rx_parser *ps)
{
    size_t start = ps->pos;
    bool ic = ps->icase, ml = ps->multiline, da = ps->dotall;
    if (++ps->depth > RX_MAX_DEPTH) return fail(ps, start, "groups nested too deeply");
    ps->pos++;
    rx_buf open = {0};
    bool ok = true;
    if (at(ps, '?')) {
        ps->pos++;
        if (at(ps, ':')) {
            ps->pos++;
            buf_puts(&open, "(?:");
        } else if (at(ps, '<')) {
            ps->pos++;
            rx_buf name = {0};
            ok = parse_group_name(ps, start, &name);
            unsigned group = ++ps->groups_seen;
            if (ok && !ps->pass2) {
                if (ps->nnames == ps->names_cap) {
                    ps->names_cap = ps->names_cap ? ps->names_cap * 2 : 8;
                    ps->names = tg_xrealloc(ps->names, ps->names_cap * sizeof *ps->names);
                }
                ps->names[ps->nnames++] = (rx_name){name.p, name.len, group};
                name.p = NULL;
            }
            free(name.p);
            buf_puts(&open, "(");
        } else {
            ok = parse_modifiers(ps, start, &open);
        }
    } else {
        ps->groups_seen++;
        buf_puts(&open, "(");
    }
    if (ok) {
        emit(ps, open.p);
        ok = parse_disjunction(ps);
    }
    free(open.p);
    if (!ok) return false;
    if (!at(ps, ')')) return fail(ps, start, "missing ')'");
    ps->pos++;
    emit(ps, ")");
    ps->icase = ic;
    ps->multiline = ml;
    ps->dotall = da;
    ps->depth--;
    return true;
}

typedef struct {
    bool is_cp;
    uint32_t cp;
    rx_buf text; /* for class escapes */
} rx_class_atom;

static bool parse_class_atom(rx_parser *ps, rx_class_atom *a)
{
    size_t start = ps->pos;
    a->is_cp = true;
    if (ps->s[ps->pos] != '\\') {
        ps->pos += utf8_decode(ps->s + ps->pos, ps->len - ps->pos, &a->cp);
        return true;
    }
    ps->pos++;
    if (ps->pos >= ps->len) return fail(ps, start, "\\ at end of pattern");
    unsigned char c = ps->s[ps->pos];
    const char *esc = class_escape(c, true, ps->icase);
    if (esc) {
        a->is_cp = false;
        buf_puts(&a->text, esc);
        ps->pos++;
        return true;
    }
    if (c == 'p' || c == 'P') {
        a->is_cp = false;
        return parse_property(ps, start, &a->text);
    }
    if (c == 'b') {
        a->cp = 0x08;
        ps->pos++;
        return true;
    }
    if (c == '-') {
        a->cp = '-';
        ps->pos++;
        return true;
    }
    if (c >= '1' && c <= '9') return fail(ps, start, "backreference inside a character class");
    if (c == 'B' || c == 'k')
        return failf_escape(ps, start, "invalid escape in character class", c);
    return parse_char_escape(ps, start, &a->cp);
}

static bool parse_class(rx_parser *ps)
{
    size_t start = ps->pos;
    ps->pos++;
    bool neg = at(ps, '^');
    if (neg) ps->pos++;
    if (at(ps, ']')) {
        /* PCRE2 reads "[]" as the start of a class containing ']'. */
        ps->pos++;
        emit(ps, neg ? "(?s:.)" : "(?!)");
        return true;
    }
    emit(ps, neg ? "[^" : "[");
    for (;;) {
        if (ps->pos >= ps->len) return fail(ps, start, "missing ']'");
        if (at(ps, ']')) {
            ps->pos++;
            break;
        }
        rx_class_atom a = {0}, b = {0};
        size_t astart = ps->pos;
        bool ok = parse_class_atom(ps, &a);
        if (ok && at(ps, '-') && ps->pos + 1 < ps->len && ps->s[ps->pos + 1] != ']') {
            ps->pos++;
            ok = parse_class_atom(ps, &b);
            if (ok && (!a.is_cp || !b.is_cp))
                ok = fail(ps, astart, "a class escape cannot bound a character range");
            if (ok && a.cp > b.cp) ok = fail(ps, astart, "character range out of order");
            if (ok) {
                emit_cp(ps, a.cp);
                emit(ps, "-");
                emit_cp(ps, b.cp);
            }
        } else if (ok) {
            if (a.is_cp)
                emit_cp(ps, a.cp);
            else
                emit(ps, a.text.p);
        }
        free(a.text.p);
        free(b.text.p);
        if (!ok) return false;
    }
    emit(ps, "]");
    return true;
}

/* Digits of a {n,m} quantifier, saturating: ECMA-262 has no upper bound. */
static bool read_decimal(rx_parser *ps, uint32_t *v)
{
    size_t start = ps->pos;
    uint64_t x = 0;
    while (ps->pos < ps->len && ps->s[ps->pos] >= '0' && ps->s[ps->pos] <= '9') {
        x = x * 10 + (uint64_t)(ps->s[ps->pos] - '0');
        if (x > RX_INF - 1) x = RX_INF - 1;
        ps->pos++;
    }
    *v = (uint32_t)x;
    return ps->pos > start;
}

/* "{n}", "{n,}" or "{n,m}" at pos; false (pos unchanged) if it is not one. */
static bool read_braces(rx_parser *ps, uint32_t *lo, uint32_t *hi)
{
    size_t save = ps->pos;
    ps->pos++;
    if (!read_decimal(ps, lo)) goto no;
    *hi = *lo;
    if (at(ps, ',')) {
        ps->pos++;
        if (!read_decimal(ps, hi)) *hi = RX_INF;
    }
    if (!at(ps, '}')) goto no;
    ps->pos++;
    return true;
no:
    ps->pos = save;
    return false;
}

static bool parse_quantifier(rx_parser *ps)
{
    if (ps->pos >= ps->len) return true;
    size_t start = ps->pos;
    unsigned char c = ps->s[ps->pos];
    if (c == '*' || c == '+' || c == '?') {
        char q[2] = {(char)c, 0};
        emit(ps, q);
        ps->pos++;
    } else if (c == '{') {
        uint32_t lo, hi;
        if (!read_braces(ps, &lo, &hi)) return fail(ps, start, "lone '{' (escape it as \\{)");
        if (lo > hi) return fail(ps, start, "numbers out of order in {} quantifier");
        if (ps->engine && (lo > RX_MAX_REPEAT || (hi != RX_INF && hi > RX_MAX_REPEAT)))
            return fail(ps, start, "quantifier bound above 65535 is not supported by the engine");
        char q[32];
        if (hi == lo)
            snprintf(q, sizeof q, "{%u}", (unsigned)lo);
        else if (hi == RX_INF)
            snprintf(q, sizeof q, "{%u,}", (unsigned)lo);
        else
            snprintf(q, sizeof q, "{%u,%u}", (unsigned)lo, (unsigned)hi);
        emit(ps, q);
    } else {
        return true;
    }
    if (at(ps, '?')) {
        emit(ps, "?");
        ps->pos++;
    }
    return true;
}

static bool emit_backref(rx_parser *ps, unsigned group)
{
    char q[24];
    snprintf(q, sizeof q, "\\g{%u}", group);
    emit(ps, q);
    return true;
}

/* AtomEscape outside a class, pos at the backslash. */
static bool parse_atom_escape(rx_parser *ps)
{
    size_t start = ps->pos;
    ps->pos++;
    if (ps->pos >= ps->len) return fail(ps, start, "\\ at end of pattern");
    unsigned char c = ps->s[ps->pos];
    const char *esc = class_escape(c, false, ps->icase);
    if (esc) {
        emit(ps, esc);
        ps->pos++;
        return true;
    }
    if (c == 'p' || c == 'P') {
        rx_buf t = {0};
        bool ok = parse_property(ps, start, &t);
        if (ok) emit(ps, t.p);
        free(t.p);
        return ok;
    }
    if (c >= '1' && c <= '9') {
        uint32_t n;
        read_decimal(ps, &n);
        if (ps->pass2 && n > ps->ngroups)
            return fail(ps, start, "backreference to a group that does not exist");
        return emit_backref(ps, n);
    }
    if (c == 'k') {
        ps->pos++;
        if (!at(ps, '<')) return fail(ps, start, "\\k must be followed by <name>");
        ps->pos++;
        rx_buf name = {0};
        bool ok = parse_group_name(ps, start, &name);
        if (ok && ps->pass2) {
            const rx_name *n = find_name(ps, name.p, name.len);
            if (!n)
                ok = fail(ps, start, "backreference to an undefined group name");
            else
                emit_backref(ps, n->group);
        }
        free(name.p);
        return ok;
    }
    uint32_t cp;
    if (!parse_char_escape(ps, start, &cp)) return false;
    emit_cp(ps, cp);
    return true;
}

static bool parse_atom(rx_parser *ps)
{
    unsigned char c = ps->s[ps->pos];
    uint32_t lo, hi;
    switch (c) {
    case '.':
        ps->pos++;
        emit(ps, ps->dotall ? "(?s:.)" : "[^" RX_LT "]");
        return true;
    case '(':
        return parse_group(ps);
    case '[':
        return parse_class(ps);
    case '\\':
        return parse_atom_escape(ps);
    case '*':
    case '+':
    case '?':
        return fail(ps, ps->pos, "nothing to repeat");
    case '{':
        if (read_braces(ps, &lo, &hi)) return fail(ps, ps->pos, "nothing to repeat");
        return fail(ps, ps->pos, "lone '{' (escape it as \\{)");
    case '}':
        return fail(ps, ps->pos, "lone '}' (escape it as \\})");
    case ']':
        return fail(ps, ps->pos, "lone ']' (escape it as \\])");
    default: {
        uint32_t cp;
        ps->pos += utf8_decode(ps->s + ps->pos, ps->len - ps->pos, &cp);
        emit_cp(ps, cp);
        return true;
    }
    }
}

static bool parse_term(rx_parser *ps)
{
    mark(ps);
    unsigned char c = ps->s[ps->pos];
    if (c == '^') {
        ps->pos++;
        emit(ps, ps->multiline ? "(?<![^" RX_LT "])" : "\\A");
        return no_quantifier(ps);
    }
    if (c == '$') {
        ps->pos++;
        emit(ps, ps->multiline ? "(?![^" RX_LT "])" : "\\z");
        return no_quantifier(ps);
    }
    if (c == '\\' && (at_off(ps, 1, 'b') || at_off(ps, 1, 'B'))) {
        bool b = at_off(ps, 1, 'b');
        emit(ps, ps->icase ? (b ? RX_IWORD_BOUNDARY : RX_IWORD_NOT_BOUNDARY) : b ? "\\b" : "\\B");
        ps->pos += 2;
        return no_quantifier(ps);
    }
    if (c == '(' && at_off(ps, 1, '?')) {
        if (at_off(ps, 2, '=')) return parse_lookaround(ps, 3, "(?=");
        if (at_off(ps, 2, '!')) return parse_lookaround(ps, 3, "(?!");
        if (at_off(ps, 2, '<') && at_off(ps, 3, '=')) return parse_lookaround(ps, 4, "(?<=");
        if (at_off(ps, 2, '<') && at_off(ps, 3, '!')) return parse_lookaround(ps, 4, "(?<!");
    }
    if (!parse_atom(ps)) return false;
    return parse_quantifier(ps);
}

static bool parse_alternative(rx_parser *ps)
{
    while (ps->pos < ps->len && ps->s[ps->pos] != '|' && ps->s[ps->pos] != ')')
        if (!parse_term(ps)) return false;
    return true;
}

static bool parse_disjunction(rx_parser *ps)
{
    for (;;) {
        if (!parse_alternative(ps)) return false;
        if (!at(ps, '|')) return true;
        ps->pos++;
        emit(ps, "|");
    }
}

static bool parse_pass(rx_parser *ps)
{
    ps->pos = 0;
    ps->depth = 0;
    ps->groups_seen = 0;
    ps->icase = ps->multiline = ps->dotall = false;
    if (!parse_disjunction(ps)) return false;
    if (ps->pos < ps->len) return fail(ps, ps->pos, "unmatched ')'");
    return true;
}

static void parser_free(rx_parser *ps)
{
    for (size_t i = 0; i < ps->nnames; i++)
        free(ps->names[i].name);
    free(ps->names);
    for (size_t i = 0; i < ps->nscripts; i++)
        free(ps->scripts[i]);
    free(ps->scripts);
    free(ps->marks);
}

/* Checks pattern as ECMA-262 and, when out is set, writes its PCRE2 form.
 * Pass one counts groups and collects names; pass two can then check
 * backreferences (ECMA-262 allows forward ones). */
static bool translate(rx_parser *ps, const char *pattern, size_t len, rx_buf *out, bool engine)
{
    ps->s = (const unsigned char *)pattern;
    ps->len = len;
    ps->engine = engine;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(ps->s + i, len - i, &cp);
        if (!n) return fail(ps, i, "pattern is not valid UTF-8");
        i += n;
    }
    if (!parse_pass(ps)) return false;
    ps->ngroups = ps->groups_seen;
    if (ps->nnames) {
        qsort(ps->names, ps->nnames, sizeof *ps->names, name_cmp);
        for (size_t i = 1; i < ps->nnames; i++)
            if (name_cmp(&ps->names[i - 1], &ps->names[i]) == 0)
                return fail(ps, 0, "duplicate group name");
    }
    ps->pass2 = true;
    ps->out = out;
    return parse_pass(ps);
}

static void set_err(char *err, size_t errlen, const char *msg, size_t at)
{
    if (err && errlen)
        snprintf(err, errlen, "invalid regular expression: %s at offset %zu", msg, at);
}

/* Where in the ECMA pattern a PCRE2 error at translated offset off lies. */
static size_t map_offset(const rx_parser *ps, size_t off)
{
    size_t src = 0;
    for (size_t i = 0; i < ps->nmarks && ps->marks[i].out <= off; i++)
        src = ps->marks[i].src;
    return src;
}

static pcre2_code *rx_pcre_compile(const char *p, size_t n, int *ec, PCRE2_SIZE *eo)
{
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc) rx_oom();
    /* A \u escape may name a lone surrogate: valid ECMA-262 that simply
     * never matches UTF-8 text. */
    pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALLOW_SURROGATE_ESCAPES);
    /* MATCH_UNSET_BACKREF: in ECMA-262 a reference to a group that has not
     * matched matches the empty string. No UCP: \d \w \b stay ASCII. */
    uint32_t opts =
        PCRE2_UTF | PCRE2_MATCH_UNSET_BACKREF | PCRE2_NEVER_BACKSLASH_C | PCRE2_NEVER_UCP;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)p, n, opts, ec, eo, cc);
    pcre2_compile_context_free(cc);
    return code;
}

tg_regex *tg_regex_compile(const char *pattern, size_t len, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!pattern) len = 0;
    if (len > RX_MAX_PATTERN) {
        if (err && errlen)
            snprintf(err, errlen, "regular expression too long (%zu bytes, limit %d)", len,
                     (int)RX_MAX_PATTERN);
        return NULL;
    }
    rx_parser ps = {0};
    rx_buf out = {0};
    tg_regex *re = NULL;
    if (!translate(&ps, pattern ? pattern : "", len, &out, true)) {
        set_err(err, errlen, ps.err, ps.err_at);
        goto done;
    }
    buf_puts(&out, ""); /* an empty pattern still needs a buffer */
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = rx_pcre_compile(out.p, out.len, &ec, &eo);
    if (!code) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(ec, msg, sizeof msg);
        if (ec == PCRE2_ERROR_LOOKBEHIND_NOT_FIXED_LENGTH ||
            ec == PCRE2_ERROR_LOOKBEHIND_TOO_COMPLICATED)
            snprintf((char *)msg, sizeof msg,
                     "variable-length lookbehind is valid ECMA-262 but not supported by the "
                     "engine (each alternative of a lookbehind must have a fixed length)");
        set_err(err, errlen, (const char *)msg, map_offset(&ps, eo));
        goto done;
    }
    /* TG_REGEX_NO_JIT builds for platforms that forbid writable executable
     * memory, and lets the tests exercise the interpreter path. */
#ifdef TG_REGEX_NO_JIT
    bool jit = false;
#else
    bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
#endif
    if (!jit) {
        /* The interpreter restarts its step count at every start position,
         * so a pattern just under the limit could run limit x length steps.
         * Anchoring it behind a lazy prefix gives one start position and one
         * budget for the whole search; the answer is the same. */
        pcre2_code_free(code);
        rx_buf wrapped = {0};
        buf_puts(&wrapped, "\\A(?s:.*?)(?:");
        buf_put(&wrapped, out.p, out.len);
        buf_puts(&wrapped, ")");
        code = rx_pcre_compile(wrapped.p, wrapped.len, &ec, &eo);
        free(wrapped.p);
        if (!code) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            set_err(err, errlen, (const char *)msg, 0);
            goto done;
        }
    }
    re = tg_xmalloc(sizeof *re);
    re->code = code;
    re->jit = jit;
done:
    free(out.p);
    parser_free(&ps);
    return re;
}

static size_t clamp_size(uint64_t v, size_t lo, size_t hi)
{
    return v < lo ? lo : v > hi ? hi : (size_t)v;
}

int tg_regex_search(const tg_regex *re, const char *s, size_t len)
{
    if (!re) return TG_REGEX_EFAIL;
    PCRE2_SPTR subject = (PCRE2_SPTR)(s ? s : "");
    rx_tls *t = rx_tls_get();
    pcre2_set_match_limit(t->mc,
                          (uint32_t)clamp_size(RX_MATCH_LIMIT + (uint64_t)len * RX_MATCH_PER_BYTE,
                                               RX_MATCH_LIMIT, UINT32_MAX));
    pcre2_set_heap_limit(
        t->mc, (uint32_t)clamp_size(RX_HEAP_LIMIT_KIB + (uint64_t)len / 1024 * RX_HEAP_PER_KIB,
                                    RX_HEAP_LIMIT_KIB, UINT32_MAX));
    int rc = pcre2_match(re->code, subject, len, 0, 0, t->md, t->mc);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT &&
        (uint64_t)len * RX_JIT_STACK_PER_BYTE > RX_JIT_STACK_MAX) {
        size_t size =
            clamp_size((uint64_t)len * RX_JIT_STACK_PER_BYTE, RX_JIT_STACK_MAX, RX_JIT_STACK_HUGE);
        pcre2_jit_stack *big = pcre2_jit_stack_create(RX_JIT_STACK_MIN, size, NULL);
        if (big) {
            pcre2_jit_stack_assign(t->mc, NULL, big);
            rc = pcre2_match(re->code, subject, len, 0, 0, t->md, t->mc);
            pcre2_jit_stack_assign(t->mc, NULL, t->js);
            pcre2_jit_stack_free(big);
        }
    }
    if (!re->jit && len > RX_BIG_SUBJECT) {
        pcre2_match_data_free(t->md);
        t->md = pcre2_match_data_create(1, NULL);
        if (!t->md) rx_oom();
    }
    /* 0 means the ovector was too small to hold every group: still a match. */
    if (rc >= 0) return TG_REGEX_MATCH;
    switch (rc) {
    case PCRE2_ERROR_NOMATCH:
        return TG_REGEX_NOMATCH;
    case PCRE2_ERROR_MATCHLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
    case PCRE2_ERROR_HEAPLIMIT:
    case PCRE2_ERROR_JIT_STACKLIMIT:
    case PCRE2_ERROR_NOMEMORY:
        return TG_REGEX_ELIMIT;
    default:
        return TG_REGEX_EFAIL;
    }
}

bool tg_regex_is_valid(const char *pattern, size_t len)
{
    rx_parser ps = {0};
    bool ok = translate(&ps, pattern ? pattern : "", pattern ? len : 0, NULL, false);
    parser_free(&ps);
    return ok;
}

void tg_regex_free(tg_regex *re)
{
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}
