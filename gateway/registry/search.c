/* The tool search index: terms from each tool's fields go into one inverted
 * index (term -> postings of per-field counts), and a query is scored with
 * BM25F: each field's count is normalised by that field's length, weighted,
 * summed, and saturated once, so a term repeated across fields does not
 * count as if it were independent evidence.
 *
 * Documents and queries go through the same term pipeline (split, lowercase,
 * stopwords, stem), so "listInvoices", "list_invoices" and "list the
 * invoices" all meet on "list" and "invoic". Nothing here calls the
 * aborting allocators: the header promises NULL (build) or no hits (query)
 * when memory runs out. */
#include "gateway/registry/search.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { F_NAME, F_TITLE, F_DESC, F_PARAM_NAME, F_PARAM_DESC, NFIELDS };

/* A tool's name and title are written to say what it does; its description
 * adds context and its parameters mostly name inputs, so a match there says
 * less about whether this is the tool asked for. */
static const double field_weight[NFIELDS] = {3.0, 2.0, 1.0, 0.75, 0.5};

#define K1 1.2
#define B  0.75

/* Occurrences of a term in one field past this many add nothing: tool texts
 * are short, and a description that says "contact" twenty times is no more
 * about contacts than one that says it twice, but would otherwise saturate
 * as high as a name match. */
#define MAX_FIELD_TF 3

/* A term reached only through the thesaurus counts this much of the user's
 * own word: the user's words are the better evidence, but a tool that
 * matches only through an equivalent should still rank. */
#define THESAURUS_WEIGHT 0.7

/* Bounds on what one document contributes, so a deploy with a hostile
 * definition cannot make the index large or the build slow. */
#define MAX_FIELD_TERMS  2048
#define MAX_SCHEMA_DEPTH 32
#define MAX_SCHEMA_NODES 4096

/* ---- the thesaurus -------------------------------------------------- */

/* Groups of words that ask for the same thing in an agent's task, applied
 * to queries only, at THESAURUS_WEIGHT of the user's own word: a query says
 * "reply", "respond" or "answer", and a catalog picked one. The groups are
 * general English equivalences among the verbs of everyday operations and
 * the nouns of the business objects tools act on, not any one catalog's
 * words; a group that holds in one product but not in another would pull
 * unrelated tools up for every query that uses the word, so words with a
 * second common meaning are left out ("return" for a shop return, "fire"
 * for an alarm). A word may sit in more than one group. */
#define THESAURUS_WIDTH 8
static const char *const thesaurus[][THESAURUS_WIDTH] = {
    /* verbs */
    {"create", "add", "new", "make", NULL},
    {"open", "start", "begin", "launch", "initiate", NULL},
    {"delete", "remove", "erase", "discard", NULL},
    {"update", "edit", "modify", "change", "amend", "alter", "adjust", NULL},
    {"get", "fetch", "retrieve", "read", "view", "show", "display", NULL},
    {"search", "find", "lookup", "query", "locate", NULL},
    {"send", "deliver", "dispatch", "transmit", NULL},
    {"reply", "respond", "answer", NULL},
    {"cancel", "abort", "annul", "rescind", "void", NULL},
    {"disable", "deactivate", "suspend", "revoke", "lock", "block", NULL},
    {"enable", "activate", "reactivate", "unlock", NULL},
    {"restore", "recover", "undelete", NULL},
    {"revert", "rollback", "undo", NULL},
    {"assign", "allocate", "delegate", "reassign", NULL},
    {"approve", "accept", "authorize", NULL},
    {"deny", "decline", "reject", "refuse", NULL},
    {"purchase", "buy", "order", NULL},
    {"book", "reserve", "schedule", NULL},
    {"notify", "inform", "tell", "announce", NULL},
    {"upload", "attach", NULL},
    {"download", "export", NULL},
    {"copy", "duplicate", "clone", NULL},
    {"merge", "combine", "consolidate", "dedupe", NULL},
    {"move", "transfer", "relocate", NULL},
    {"mute", "silence", "snooze", NULL},
    {"close", "resolve", "solve", NULL},
    {"complete", "finish", "done", NULL},
    {"restart", "reboot", "relaunch", NULL},
    {"deploy", "release", "ship", "rollout", NULL},
    {"subscribe", "signup", "register", "enroll", "join", NULL},
    {"sign", "signature", NULL},
    /* people and organisations */
    {"employee", "staff", "worker", "personnel", "colleague", NULL},
    {"customer", "client", "buyer", "shopper", NULL},
    {"supplier", "vendor", "seller", NULL},
    {"candidate", "applicant", NULL},
    {"manager", "boss", "supervisor", NULL},
    {"company", "organization", "business", "firm", NULL},
    {"lead", "prospect", NULL},
    {"deal", "opportunity", NULL},
    /* money */
    {"invoice", "bill", NULL},
    {"payment", "charge", "transaction", NULL},
    {"refund", "reimburse", "reimbursement", NULL},
    {"price", "cost", "fee", "rate", "quote", NULL},
    {"discount", "coupon", "promo", "voucher", NULL},
    {"revenue", "income", "earnings", "profit", NULL},
    {"expense", "spending", "expenditure", NULL},
    {"salary", "wage", "paycheck", "payslip", NULL},
    /* work objects */
    {"event", "meeting", "appointment", "call", NULL},
    {"file", "document", "doc", NULL},
    {"folder", "directory", NULL},
    {"email", "mail", "inbox", NULL},
    {"sms", "text", NULL},
    {"phone", "telephone", "mobile", "cell", NULL},
    {"ticket", "case", NULL},
    {"issue", "bug", "defect", "problem", NULL},
    {"task", "todo", "chore", NULL},
    {"comment", "note", "remark", "annotation", NULL},
    {"label", "tag", "category", NULL},
    {"survey", "form", "questionnaire", "poll", NULL},
    {"newsletter", "campaign", "mailing", NULL},
    {"emoji", "reaction", "emoticon", NULL},
    {"contract", "agreement", NULL},
    {"leave", "vacation", "holiday", "pto", "absence", NULL},
    {"job", "position", "opening", "vacancy", NULL},
    {"product", "item", "goods", "merchandise", NULL},
    {"inventory", "stock", NULL},
    {"package", "parcel", "shipment", NULL},
    {"flight", "plane", "airfare", NULL},
    {"hotel", "accommodation", "lodging", NULL},
    {"weather", "forecast", "rain", "snow", "temperature", NULL},
    {"location", "place", "city", NULL},
    {"coordinate", "latitude", "longitude", "geocode", NULL},
    {"currency", "exchange", "forex", NULL},
    {"status", "state", "progress", NULL},
    {"free", "available", "availability", NULL},
    /* software and operations */
    {"password", "passcode", "credential", NULL},
    {"mfa", "2fa", "otp", "authenticator", NULL},
    {"error", "exception", "crash", "failure", NULL},
    {"alert", "alarm", "notification", NULL},
    {"incident", "outage", "downtime", NULL},
    {"instance", "server", "host", "node", "replica", NULL},
    {"production", "prod", NULL},
    {"repository", "repo", NULL},
    {"domain", "hostname", "dns", NULL},
    {"website", "site", NULL},
    {"visitor", "traffic", "visit", "pageview", NULL},
    {"chart", "graph", "plot", NULL},
    {"backup", "snapshot", "dump", NULL},
    {"database", "db", NULL},
    {"config", "configuration", "setting", NULL},
    {"channel", "room", NULL},
};

#define THESAURUS_GROUPS (sizeof thesaurus / sizeof thesaurus[0])

/* The thesaurus through the term pipeline, so its words meet query terms
 * as stems; built with each index, since stemming is not free and a query
 * must stay cheap. An empty string ends a group. */
typedef char thesaurus_stems[THESAURUS_GROUPS][THESAURUS_WIDTH][TG_SEARCH_MAX_TOKEN + 1];

/* ---- the index ----------------------------------------------------- */

typedef struct posting {
    uint32_t doc;
    uint16_t tf[NFIELDS];
} posting;

typedef struct term {
    char *text;
    posting *postings;
    size_t n, cap;
    double idf;
} term;

struct tg_search_index {
    size_t ndocs;
    uint32_t *len; /* ndocs * NFIELDS terms per field */
    double avglen[NFIELDS];
    term *terms;
    size_t nterms, terms_cap;
    uint32_t *slots; /* open addressing: term index + 1, 0 when empty */
    size_t nslots;   /* a power of two, at least twice nterms */
    thesaurus_stems thesaurus;
};

/* ---- terms ---------------------------------------------------------- */

typedef int (*term_fn)(const char *term, void *ctx);

/* Decodes one UTF-8 sequence at s (n bytes left) into *cp. Returns its
 * length, or 0 when it is not well-formed (overlong, surrogate, past
 * U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, *cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, *cp = c & 0x0Fu;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, *cp = c & 0x07u;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        unsigned char b = s[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return 0;
        *cp = *cp << 6 | (b & 0x3Fu);
    }
    return len;
}

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    while (n) {
        uint32_t cp;
        size_t l = utf8_decode(p, n, &cp);
        if (!l) return false;
        p += l, n -= l;
    }
    return true;
}

enum cls { C_SEP, C_LOWER, C_UPPER, C_DIGIT };

/* Without Unicode tables, every code point outside ASCII is a letter except
 * the punctuation, symbol and private-use blocks, which separate words as
 * ASCII punctuation does. Latin-1 capitals are the only non-ASCII letters
 * folded, which covers the accented names common in Western catalogs. */
static enum cls classify(uint32_t cp)
{
    if (cp < 0x80) {
        if (cp >= 'a' && cp <= 'z') return C_LOWER;
        if (cp >= 'A' && cp <= 'Z') return C_UPPER;
        if (cp >= '0' && cp <= '9') return C_DIGIT;
        return C_SEP;
    }
    if (cp <= 0xBF || cp == 0xD7 || cp == 0xF7) return C_SEP;
    if (cp >= 0xC0 && cp <= 0xDE) return C_UPPER;
    if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x2190 && cp <= 0x2BFF) ||
        (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xE000 && cp <= 0xF8FF) ||
        (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF0F) ||
        (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
        (cp >= 0xFF5B && cp <= 0xFF65) || (cp >= 0xFFF0 && cp <= 0xFFFF) ||
        (cp >= 0x1F000 && cp <= 0x1FAFF))
        return C_SEP;
    return C_LOWER;
}

/* Words that carry no meaning about which tool is wanted, in queries
 * ("I need to ...", "can you please ...") or in descriptions. Sorted for
 * bsearch. Tool verbs ("get", "list", "find") are deliberately absent. */
static const char *const stopwords[] = {
    "a",      "about", "after", "all",  "also", "am",   "an",    "and",  "any",  "are",   "as",
    "at",     "be",    "been",  "but",  "by",   "can",  "could", "did",  "do",   "does",  "for",
    "from",   "had",   "has",   "have", "how",  "i",    "if",    "in",   "into", "is",    "it",
    "its",    "just",  "let",   "me",   "my",   "need", "of",    "on",   "or",   "our",   "please",
    "should", "so",    "some",  "than", "that", "the",  "their", "them", "then", "there", "these",
    "they",   "this",  "those", "to",   "us",   "want", "was",   "we",   "were", "what",  "when",
    "where",  "which", "while", "who",  "will", "with", "would", "you",  "your",
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_stopword(const char *w)
{
    return bsearch(&w, stopwords, sizeof stopwords / sizeof stopwords[0], sizeof stopwords[0],
                   cmp_str) != NULL;
}

/* ---- Porter's stemmer ----------------------------------------------- *
 * M. F. Porter, "An algorithm for suffix stripping", Program 14(3), 1980,
 * written from the paper's rules. A word is [C](VC)^m[V]; its measure m
 * counts the VC pairs, and each step strips a suffix only when what is left
 * has a large enough measure, so "cancelled", "cancels" and "cancellation"
 * all become "cancel" while "sing", "feed" and "rate" keep their endings. Stems
 * are not words ("invoic", "repli"); documents and queries share them. */

/* Whether w[i] is a consonant: not a, e, i, o, u, and not a y after a
 * consonant ("y" in "toy" is a consonant, in "syzygy" a vowel). */
static bool consonant(const char *w, size_t i)
{
    switch (w[i]) {
    case 'a':
    case 'e':
    case 'i':
    case 'o':
    case 'u':
        return false;
    case 'y':
        return i == 0 || !consonant(w, i - 1);
    default:
        return true;
    }
}

/* m of w[0..n). */
static int measure(const char *w, size_t n)
{
    int m = 0;
    size_t i = 0;
    while (i < n && consonant(w, i))
        i++;
    while (i < n) {
        while (i < n && !consonant(w, i))
            i++;
        if (i == n) break;
        while (i < n && consonant(w, i))
            i++;
        m++;
    }
    return m;
}

/* *v*: w[0..n) has a vowel. */
static bool has_vowel(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!consonant(w, i)) return true;
    return false;
}

/* *d: w[0..n) ends with a double consonant. */
static bool double_consonant(const char *w, size_t n)
{
    return n >= 2 && w[n - 1] == w[n - 2] && consonant(w, n - 1);
}

/* *o: w[0..n) ends consonant-vowel-consonant, the last not w, x or y
 * ("hop", "fil"), a short syllable that takes back an "e". */
static bool cvc(const char *w, size_t n)
{
    return n >= 3 && consonant(w, n - 1) && !consonant(w, n - 2) && consonant(w, n - 3) &&
           w[n - 1] != 'w' && w[n - 1] != 'x' && w[n - 1] != 'y';
}

static bool ends(const char *w, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(w + n - k, suffix, k) == 0;
}

/* Replaces the last `cut` bytes of w[0..n) with repl; returns the length. */
static size_t replace(char *w, size_t n, size_t cut, const char *repl)
{
    size_t k = strlen(repl);
    memcpy(w + n - cut, repl, k);
    return n - cut + k;
}

typedef struct rule {
    const char *suffix, *repl;
} rule;

/* Steps 2 to 4 of the paper: the longest suffix in the table that w ends
 * with is replaced when the stem before it has measure above min_m (step 4
 * strips "ion" only after s or t); the other suffixes are not tried. */
static size_t apply_rules(char *w, size_t n, const rule *rules, size_t nrules, int min_m)
{
    const rule *best = NULL;
    size_t best_len = 0;
    for (size_t r = 0; r < nrules; r++) {
        size_t k = strlen(rules[r].suffix);
        if (k > best_len && ends(w, n, rules[r].suffix)) best = &rules[r], best_len = k;
    }
    if (!best) return n;
    size_t stem_len = n - best_len;
    if (strcmp(best->suffix, "ion") == 0 &&
        (!stem_len || (w[stem_len - 1] != 's' && w[stem_len - 1] != 't')))
        return n;
    return measure(w, stem_len) > min_m ? replace(w, n, best_len, best->repl) : n;
}

static const rule step2[] = {
    {"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"}, {"anci", "ance"}, {"izer", "ize"},
    {"abli", "able"},   {"alli", "al"},     {"entli", "ent"}, {"eli", "e"},     {"ousli", "ous"},
    {"ization", "ize"}, {"ation", "ate"},   {"ator", "ate"},  {"alism", "al"},  {"iveness", "ive"},
    {"fulness", "ful"}, {"ousness", "ous"}, {"aliti", "al"},  {"iviti", "ive"}, {"biliti", "ble"},
};

static const rule step3[] = {
    {"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"},
    {"ical", "ic"},  {"ful", ""},   {"ness", ""},
};

static const rule step4[] = {
    {"al", ""},  {"ance", ""},  {"ence", ""}, {"er", ""},  {"ic", ""},  {"able", ""}, {"ible", ""},
    {"ant", ""}, {"ement", ""}, {"ment", ""}, {"ent", ""}, {"ion", ""}, {"ou", ""},   {"ism", ""},
    {"ate", ""}, {"iti", ""},   {"ous", ""},  {"ive", ""}, {"ize", ""},
};

#define NRULES(t) (sizeof(t) / sizeof(t)[0])

/* Step 1: plurals, -ed, -ing and a final y. */
static size_t step1(char *w, size_t n)
{
    if (ends(w, n, "sses") || ends(w, n, "ies"))
        n -= 2;
    else if (ends(w, n, "s") && !ends(w, n, "ss"))
        n--;

    size_t cut = 0;
    if (ends(w, n, "eed")) {
        if (measure(w, n - 3) > 0) n--;
    } else if (ends(w, n, "ed") && has_vowel(w, n - 2)) {
        cut = 2;
    } else if (ends(w, n, "ing") && has_vowel(w, n - 3)) {
        cut = 3;
    }
    if (cut) {
        n -= cut;
        /* Undo what the suffix did to the stem: "conflated" -> "conflate",
         * "hopping" -> "hop", "filing" -> "file". */
        if (ends(w, n, "at") || ends(w, n, "bl") || ends(w, n, "iz"))
            n = replace(w, n, 0, "e");
        else if (double_consonant(w, n) && w[n - 1] != 'l' && w[n - 1] != 's' && w[n - 1] != 'z')
            n--;
        else if (measure(w, n) == 1 && cvc(w, n))
            n = replace(w, n, 0, "e");
    }

    if (ends(w, n, "y") && has_vowel(w, n - 1)) w[n - 1] = 'i';
    return n;
}

/* Step 5: a final e, and a double l. */
static size_t step5(char *w, size_t n)
{
    if (ends(w, n, "e")) {
        int m = measure(w, n - 1);
        if (m > 1 || (m == 1 && !cvc(w, n - 1))) n--;
    }
    if (ends(w, n, "ll") && measure(w, n) > 1) n--;
    return n;
}

/* Words the algorithm would cut into their root: undoubling after -ed or
 * -ing turns "added" into "ad" while "add" stays, and "add" is a verb most
 * tool catalogs use. Porter2 keeps a similar list of exceptional forms. */
static const char *const kept_whole[] = {"add", "added", "adding"};

/* Stems w (n bytes, NUL-terminated room for n + 1) in place when it is a
 * lowercase ASCII word of three letters or more; returns the new length.
 * Anything else (digits, other scripts) is left as it is. */
static size_t stem(char *w, size_t n)
{
    if (n <= 2) return n;
    for (size_t i = 0; i < n; i++)
        if (w[i] < 'a' || w[i] > 'z') return n;
    for (size_t i = 0; i < NRULES(kept_whole); i++) {
        if (strcmp(w, kept_whole[i]) == 0) {
            w[3] = '\0';
            return 3;
        }
    }
    n = step1(w, n);
    n = apply_rules(w, n, step2, NRULES(step2), 0);
    n = apply_rules(w, n, step3, NRULES(step3), 0);
    n = apply_rules(w, n, step4, NRULES(step4), 1);
    n = step5(w, n);
    w[n] = '\0';
    return n;
}

typedef struct tokenizer {
    char buf[TG_SEARCH_MAX_TOKEN + 1];
    size_t len;
    bool full; /* the word reached TG_SEARCH_MAX_TOKEN: the rest of it is dropped */
    term_fn fn;
    void *ctx;
} tokenizer;

/* Ends the current word: drops it if too short or a stopword, else stems it
 * and hands it on. Returns fn's answer (nonzero stops the scan). */
static int flush(tokenizer *t)
{
    size_t n = t->len;
    t->len = 0;
    t->full = false;
    if (n < 2) return 0;
    t->buf[n] = '\0';
    if (is_stopword(t->buf)) return 0;
    stem(t->buf, n);
    return t->fn(t->buf, t->ctx);
}

/* Appends cp, lowercased, unless the word has reached its byte limit; a
 * character that does not fit whole ends what is kept of the word. */
static void append(tokenizer *t, uint32_t cp, enum cls c)
{
    if (c == C_UPPER)
        cp += 0x20; /* ASCII and Latin-1 capitals sit 0x20 below their small letters */
    unsigned char enc[4];
    size_t k;
    if (cp < 0x80) {
        enc[0] = (unsigned char)cp, k = 1;
    } else if (cp < 0x800) {
        enc[0] = (unsigned char)(0xC0 | cp >> 6), enc[1] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 2;
    } else if (cp < 0x10000) {
        enc[0] = (unsigned char)(0xE0 | cp >> 12);
        enc[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        enc[2] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        enc[0] = (unsigned char)(0xF0 | cp >> 18);
        enc[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        enc[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        enc[3] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    if (t->full || t->len + k > TG_SEARCH_MAX_TOKEN) {
        t->full = true;
        return;
    }
    memcpy(t->buf + t->len, enc, k);
    t->len += k;
}

/* Splits s into words at separators, at lower-to-upper case changes
 * ("findContact") and before the last capital of a run followed by a small
 * letter ("HTTPServer"); letters and digits stay together ("oauth2", "s3").
 * Bytes that are not UTF-8 separate words. Returns the first nonzero answer
 * of fn, else 0. */
static int split(const char *s, term_fn fn, void *ctx)
{
    tokenizer t = {.len = 0, .full = false, .fn = fn, .ctx = ctx};
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    enum cls prev = C_SEP;
    uint32_t cp;
    size_t l = n ? utf8_decode(p, n, &cp) : 0;
    while (n) {
        enum cls c = l ? classify(cp) : C_SEP;
        size_t step = l ? l : 1;
        uint32_t next_cp = 0;
        size_t next_l = n > step ? utf8_decode(p + step, n - step, &next_cp) : 0;
        bool boundary = c == C_SEP || (prev == C_LOWER && c == C_UPPER) ||
                        (prev == C_UPPER && c == C_UPPER && next_l && classify(next_cp) == C_LOWER);
        if (boundary) {
            int rc = flush(&t);
            if (rc) return rc;
        }
        if (c != C_SEP) append(&t, cp, c);
        prev = c;
        p += step, n -= step;
        cp = next_cp, l = next_l;
    }
    return flush(&t);
}

int tg_search_terms(const char *text, int (*fn)(const char *term, void *ctx), void *ctx)
{
    if (!utf8_valid(text)) return -1;
    split(text, fn, ctx);
    return 0;
}

/* ---- the vocabulary ------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

/* The slot holding term s, or the empty slot where it would go. */
static size_t slot_of(const tg_search_index *ix, const char *s)
{
    size_t mask = ix->nslots - 1, i = (size_t)hash_str(s) & mask;
    while (ix->slots[i] && strcmp(ix->terms[ix->slots[i] - 1].text, s) != 0)
        i = (i + 1) & mask;
    return i;
}

static const term *lookup(const tg_search_index *ix, const char *s)
{
    uint32_t v = ix->slots[slot_of(ix, s)];
    return v ? &ix->terms[v - 1] : NULL;
}

static bool grow_slots(tg_search_index *ix)
{
    size_t nslots = ix->nslots ? ix->nslots * 2 : 256;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots) return false;
    free(ix->slots);
    ix->slots = slots;
    ix->nslots = nslots;
    for (size_t t = 0; t < ix->nterms; t++)
        ix->slots[slot_of(ix, ix->terms[t].text)] = (uint32_t)(t + 1);
    return true;
}

/* The term s, added if new. NULL when memory runs out. */
static term *intern(tg_search_index *ix, const char *s)
{
    size_t i = slot_of(ix, s);
    if (ix->slots[i]) return &ix->terms[ix->slots[i] - 1];
    if (ix->nterms == ix->terms_cap) {
        size_t cap = ix->terms_cap ? ix->terms_cap * 2 : 256;
        term *terms = realloc(ix->terms, cap * sizeof *terms);
        if (!terms) return NULL;
        ix->terms = terms;
        ix->terms_cap = cap;
    }
    if ((ix->nterms + 1) * 2 > ix->nslots) {
        if (!grow_slots(ix)) return NULL;
        i = slot_of(ix, s);
    }
    term *t = &ix->terms[ix->nterms];
    size_t n = strlen(s);
    t->text = malloc(n + 1);
    if (!t->text) return NULL;
    memcpy(t->text, s, n + 1);
    t->postings = NULL;
    t->n = t->cap = 0;
    t->idf = 0;
    ix->slots[i] = (uint32_t)++ix->nterms;
    return t;
}

/* ---- building ------------------------------------------------------- */

typedef struct adder {
    tg_search_index *ix;
    uint32_t doc;
    int field;
    size_t field_terms[NFIELDS];
    bool failed;
} adder;

static int add_term(const char *s, void *ctx)
{
    adder *a = ctx;
    if (a->field_terms[a->field] >= MAX_FIELD_TERMS) return 1;
    a->field_terms[a->field]++;
    term *t = intern(a->ix, s);
    if (!t) {
        a->failed = true;
        return 1;
    }
    if (!t->n || t->postings[t->n - 1].doc != a->doc) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 4;
            posting *p = realloc(t->postings, cap * sizeof *p);
            if (!p) {
                a->failed = true;
                return 1;
            }
            t->postings = p;
            t->cap = cap;
        }
        t->postings[t->n++] = (posting){.doc = a->doc};
    }
    uint16_t *tf = &t->postings[t->n - 1].tf[a->field];
    if (*tf < MAX_FIELD_TF) (*tf)++;
    a->ix->len[(size_t)a->doc * NFIELDS + (size_t)a->field]++;
    return 0;
}

static void add_text(adder *a, int field, const char *text)
{
    if (!text || a->failed) return;
    a->field = field;
    split(text, add_term, a);
}

/* Indexes the property names and descriptions of a JSON Schema, nested ones
 * too (items, anyOf, $defs, ...), skipping the keywords whose values are
 * data rather than schemas. *budget bounds the nodes visited, which also
 * bounds a value whose subtrees are shared. */
static void add_schema(adder *a, const json_t *schema, int depth, size_t *budget)
{
    if (depth > MAX_SCHEMA_DEPTH || !*budget || a->failed) return;
    (*budget)--;
    json_t *node = (json_t *)schema; /* jansson's iterators take non-const values */
    if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) add_schema(a, v, depth + 1, budget);
        return;
    }
    if (!json_is_object(node)) return;
    const char *key;
    json_t *v;
    json_object_foreach(node, key, v)
    {
        if (strcmp(key, "properties") == 0 && json_is_object(v)) {
            const char *prop;
            json_t *sub;
            json_object_foreach(v, prop, sub)
            {
                add_text(a, F_PARAM_NAME, prop);
                add_schema(a, sub, depth + 1, budget);
            }
        } else if (strcmp(key, "description") == 0 && json_is_string(v)) {
            add_text(a, F_PARAM_DESC, json_string_value(v));
        } else if (strcmp(key, "enum") != 0 && strcmp(key, "const") != 0 &&
                   strcmp(key, "default") != 0 && strcmp(key, "examples") != 0) {
            add_schema(a, v, depth + 1, budget);
        }
    }
}

static void stem_thesaurus(tg_search_index *ix)
{
    for (size_t g = 0; g < THESAURUS_GROUPS; g++) {
        for (size_t k = 0; k < THESAURUS_WIDTH && thesaurus[g][k]; k++) {
            char *w = ix->thesaurus[g][k];
            size_t n = strlen(thesaurus[g][k]);
            if (n > TG_SEARCH_MAX_TOKEN) n = TG_SEARCH_MAX_TOKEN;
            memcpy(w, thesaurus[g][k], n);
            w[n] = '\0';
            stem(w, n);
        }
    }
}

tg_search_index *tg_search_build(const tg_search_doc *docs, size_t n)
{
    if (n >= UINT32_MAX) return NULL;
    tg_search_index *ix = calloc(1, sizeof *ix);
    if (!ix) return NULL;
    ix->ndocs = n;
    ix->len = calloc(n ? n * NFIELDS : 1, sizeof *ix->len);
    if (!ix->len || !grow_slots(ix)) goto fail;
    stem_thesaurus(ix);
    for (size_t d = 0; d < n; d++) {
        adder a = {.ix = ix, .doc = (uint32_t)d};
        add_text(&a, F_NAME, docs[d].name);
        add_text(&a, F_TITLE, docs[d].title);
        add_text(&a, F_DESC, docs[d].description);
        size_t budget = MAX_SCHEMA_NODES;
        if (docs[d].input_schema) add_schema(&a, docs[d].input_schema, 0, &budget);
        if (a.failed) goto fail;
    }
    for (int f = 0; f < NFIELDS; f++) {
        double total = 0;
        for (size_t d = 0; d < n; d++)
            total += ix->len[d * NFIELDS + (size_t)f];
        ix->avglen[f] = n ? total / (double)n : 0;
    }
    /* The BM25 idf with 1 added inside the log, so a term in most documents
     * still counts a little instead of counting against them. */
    for (size_t t = 0; t < ix->nterms; t++) {
        double df = (double)ix->terms[t].n;
        ix->terms[t].idf = log(1.0 + ((double)n - df + 0.5) / (df + 0.5));
    }
    return ix;
fail:
    tg_search_free(ix);
    return NULL;
}

void tg_search_free(tg_search_index *ix)
{
    if (!ix) return;
    for (size_t t = 0; t < ix->nterms; t++) {
        free(ix->terms[t].text);
        free(ix->terms[t].postings);
    }
    free(ix->terms);
    free(ix->slots);
    free(ix->len);
    free(ix);
}

/* ---- querying ------------------------------------------------------- */

typedef struct query_term {
    char text[TG_SEARCH_MAX_TOKEN + 1];
    double weight;
    size_t from; /* the user's term this one stands for: itself, or the one it is equivalent to */
} query_term;

/* The user's terms (at most TG_SEARCH_MAX_QUERY_TERMS), then the synonyms
 * the thesaurus brings (at most as many again). */
typedef struct query_terms {
    query_term t[2 * TG_SEARCH_MAX_QUERY_TERMS];
    size_t n, cap;
} query_terms;

/* Adds s with weight w, or raises the weight of s if already there.
 * Returns nonzero once the list is full. */
static int add_query_term(query_terms *q, const char *s, double w, size_t from)
{
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->t[i].text, s) == 0) {
            if (q->t[i].weight < w) q->t[i].weight = w;
            return 0;
        }
    }
    if (q->n == q->cap) return 1;
    memcpy(q->t[q->n].text, s, strlen(s) + 1);
    q->t[q->n].from = from;
    q->t[q->n++].weight = w;
    return q->n == q->cap;
}

static int collect(const char *s, void *ctx)
{
    query_terms *q = ctx;
    return add_query_term(q, s, 1.0, q->n);
}

/* Adds the thesaurus groups of the user's terms, in the order of the terms,
 * so that when the list fills, the first words of the query keep theirs. */
static void expand(const tg_search_index *ix, query_terms *q)
{
    bool done[THESAURUS_GROUPS] = {false};
    size_t own = q->n;
    q->cap = sizeof q->t / sizeof q->t[0];
    for (size_t i = 0; i < own; i++) {
        for (size_t g = 0; g < THESAURUS_GROUPS; g++) {
            if (done[g]) continue;
            for (size_t k = 0; k < THESAURUS_WIDTH && ix->thesaurus[g][k][0] && !done[g]; k++)
                done[g] = strcmp(ix->thesaurus[g][k], q->t[i].text) == 0;
            for (size_t k = 0; done[g] && k < THESAURUS_WIDTH && ix->thesaurus[g][k][0]; k++)
                if (add_query_term(q, ix->thesaurus[g][k], THESAURUS_WEIGHT, i)) return;
        }
    }
}

/* The BM25F contribution of one posting, idf aside. */
static double weigh(const tg_search_index *ix, const posting *p)
{
    double tf = 0;
    for (int f = 0; f < NFIELDS; f++) {
        if (!p->tf[f]) continue;
        double len = ix->len[(size_t)p->doc * NFIELDS + (size_t)f];
        tf += field_weight[f] * p->tf[f] / (1.0 - B + B * len / ix->avglen[f]);
    }
    return tf * (K1 + 1.0) / (K1 + tf);
}

static int cmp_hit(const void *a, const void *b)
{
    const tg_search_hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

size_t tg_search_query(const tg_search_index *ix, const char *query, tg_search_hit *hits,
                       size_t max_hits)
{
    if (!ix || !query || !max_hits || !ix->ndocs || !utf8_valid(query)) return 0;
    query_terms q;
    q.n = 0;
    q.cap = TG_SEARCH_MAX_QUERY_TERMS;
    split(query, collect, &q);
    if (!q.n) return 0;
    expand(ix, &q);
    double *acc = calloc(ix->ndocs, sizeof *acc);
    if (!acc) return 0;
    for (size_t i = 0; i < q.n; i++) {
        const term *t = lookup(ix, q.t[i].text);
        if (!t) continue;
        /* An equivalent is no more telling than the word the user wrote: a
         * rare synonym of a common word must not outweigh the word. */
        const term *said = q.t[i].from == i ? t : lookup(ix, q.t[q.t[i].from].text);
        double idf = said && said->idf < t->idf ? said->idf : t->idf;
        for (size_t k = 0; k < t->n; k++)
            acc[t->postings[k].doc] += q.t[i].weight * idf * weigh(ix, &t->postings[k]);
    }
    size_t found = 0;
    for (size_t d = 0; d < ix->ndocs; d++)
        found += acc[d] > 0;
    tg_search_hit *all = found ? malloc(found * sizeof *all) : NULL;
    if (!all) {
        free(acc);
        return 0;
    }
    found = 0;
    for (size_t d = 0; d < ix->ndocs; d++)
        if (acc[d] > 0) all[found++] = (tg_search_hit){.doc = d, .score = acc[d]};
    free(acc);
    qsort(all, found, sizeof *all, cmp_hit);
    size_t n = found < max_hits ? found : max_hits;
    memcpy(hits, all, n * sizeof *hits);
    free(all);
    return n;
}
