/* A progress line for the CLI's long operations: a spinner or an N/M bar,
 * the step under way and the time so far, redrawn in place on stderr by a
 * thread of its own (so it moves while the caller blocks) and cleared at the
 * end.
 *
 * It draws only when stderr is a terminal whose TERM is not "dumb": in a
 * script, a pipe or a log file every call here does nothing, so the
 * command's output is the same as without it. */
#ifndef TG_GATEWAY_PROGRESS_H
#define TG_GATEWAY_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct tg_progress tg_progress;

/* label is copied. Returns: new progress line (NULL when it would not draw,
 * which every function here takes). */
tg_progress *tg_progress_start(const char *label);
/* Shows step (copied; NULL for none) after the label. */
void tg_progress_step(tg_progress *p, const char *step);
/* Shows done of total as a bar; total 0 shows done alone. */
void tg_progress_count(tg_progress *p, uint64_t done, uint64_t total);
/* Writes text (whole lines) to stderr above the progress line. */
void tg_progress_print(tg_progress *p, const char *text);
/* Clears the line and frees p. */
void tg_progress_end(tg_progress *p);

/* Whether a progress line would draw: stderr is a terminal and TERM is
 * neither unset nor "dumb". */
bool tg_progress_wanted(void);

#endif
