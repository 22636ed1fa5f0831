/* bench/peer_rwkvcpp_driver.c: times rwkv.cpp (its C API, rwkv.h) on one model file, for
 * bench/vs-rwkvcpp.sh, which compiles it against the librwkv it built from the user's rwkv.cpp
 * tree. Nothing of rwkv.cpp is in this project: this file only calls its public API.
 *
 * One process is one sample:
 *   load      rwkv_init_from_file(MODEL, threads, 0 GPU layers)
 *   prefill   P tokens (fixed pseudo-random ids < n_vocab) from a fresh state, logits of the last
 *             token; one untimed call first (it builds and caches rwkv.cpp's sequence graph), then
 *             one timed call. With --chunk C > 0: rwkv_eval_sequence_in_chunks(C) (rwkv.cpp's
 *             recommended way, C = 16 its recommended size); --chunk 0: one rwkv_eval_sequence.
 *   decode    from the prefilled state, W untimed rwkv_eval steps, then D timed ones, each step's
 *             logits read back and their argmax fed to the next step (as greedy generation does).
 * Output: one line of key=value pairs on stdout, e.g.
 *   prefill_tok_s=123.4 decode_tok_s=45.6 prefill_ms=... decode_ms=... n_vocab=... threads=...
 * --tokens-out / --logits-out write the prompt and the logits after it (bench/vs-rwkvcpp.sh checks
 * with them that both programs compute the same model from the file).
 * Errors: a message on stderr and exit status 1. Build: cc -O2 -std=c11 -Wall -Wextra
 * peer_rwkvcpp_driver.c -I RWKVCPP_SRC -L BUILD -lrwkv.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rwkv.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE* f) {
  fprintf(f,
          "usage: peer_rwkvcpp_driver MODEL.bin [--threads N] [--prefill P] [--chunk C] [--decode D]\n"
          "                           [--warmup W] [--seed S] [--tokens-out FILE] [--logits-out FILE]\n"
          "  --threads N  rwkv.cpp threads (default 1)\n"
          "  --prefill P  prompt tokens (default 512; 0: no prefill)\n"
          "  --chunk C    rwkv_eval_sequence_in_chunks with chunks of C tokens (default 16);\n"
          "               0: one rwkv_eval_sequence over the whole prompt (a long one can overflow\n"
          "               ggml's graph: v4 at 512 tokens aborts)\n"
          "  --decode D   timed decode steps (default 128; 0: no decode)\n"
          "  --warmup W   untimed decode steps first (default 16)\n"
          "  --seed S     the prompt's pseudo-random token ids (default 1)\n"
          "  --tokens-out FILE  write the prompt's token ids there, comma-separated (for a cross-check)\n"
          "  --logits-out FILE  write the logits after the prompt there, raw float32 [n_vocab]\n"
          "Prints one line: prefill_tok_s=... decode_tok_s=... and the times and sizes behind them.\n");
}

static int fail(const char* what) {
  fprintf(stderr, "peer_rwkvcpp_driver: %s\n", what);
  return 1;
}

/* A whole number in [lo, hi] from option `name`'s value, or exit with a message. */
static long parse_count(const char* name, const char* v, long lo, long hi) {
  char* end = NULL;
  errno = 0;
  const long x = strtol(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi) {
    fprintf(stderr, "peer_rwkvcpp_driver: %s must be a whole number in [%ld, %ld], got '%s'\n", name, lo, hi, v);
    exit(2);
  }
  return x;
}

static uint32_t argmax(const float* v, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return (uint32_t)best;
}

/* The rwkv.cpp error flags of `ctx` (NULL: the global ones) as a message. */
static int fail_rwkv(struct rwkv_context* ctx, const char* what) {
  const enum rwkv_error_flags e = rwkv_get_last_error(ctx);
  fprintf(stderr, "peer_rwkvcpp_driver: %s failed (rwkv.cpp error flags 0x%x)\n", what, (unsigned)e);
  return 1;
}

int main(int argc, char** argv) {
  const char* model_path = NULL;
  const char* tokens_out = NULL;
  const char* logits_out = NULL;
  long threads = 1, prefill = 512, chunk = 16, decode = 128, warmup = 16, seed = 1;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (a[0] == '-' && a[1] == '-') {
      if (i + 1 >= argc) {
        fprintf(stderr, "peer_rwkvcpp_driver: %s needs a value\n", a);
        return 2;
      }
      const char* v = argv[++i];
      if (strcmp(a, "--threads") == 0) threads = parse_count(a, v, 1, 1024);
      else if (strcmp(a, "--prefill") == 0) prefill = parse_count(a, v, 0, 1L << 20);
      else if (strcmp(a, "--chunk") == 0) chunk = parse_count(a, v, 0, 1L << 20);
      else if (strcmp(a, "--decode") == 0) decode = parse_count(a, v, 0, 1L << 20);
      else if (strcmp(a, "--warmup") == 0) warmup = parse_count(a, v, 0, 1L << 20);
      else if (strcmp(a, "--seed") == 0) seed = parse_count(a, v, 0, 2147483647L);
      else if (strcmp(a, "--tokens-out") == 0) tokens_out = v;
      else if (strcmp(a, "--logits-out") == 0) logits_out = v;
      else {
        fprintf(stderr, "peer_rwkvcpp_driver: unknown option %s\n", a);
        usage(stderr);
        return 2;
      }
    } else if (!model_path) {
      model_path = a;
    } else {
      fprintf(stderr, "peer_rwkvcpp_driver: one model file only (got '%s' and '%s')\n", model_path, a);
      return 2;
    }
  }
  if (!model_path) {
    usage(stderr);
    return 2;
  }

  rwkv_set_print_errors(NULL, true);
  const double t_load = now_s();
  struct rwkv_context* ctx = rwkv_init_from_file(model_path, (uint32_t)threads, 0);
  if (!ctx) return fail_rwkv(NULL, "rwkv_init_from_file");
  const double load_ms = (now_s() - t_load) * 1e3;

  const size_t n_vocab = rwkv_get_n_vocab(ctx);
  const size_t state_len = rwkv_get_state_len(ctx);
  const size_t logits_len = rwkv_get_logits_len(ctx);
  float* state = malloc(state_len * sizeof(float));
  float* logits = malloc(logits_len * sizeof(float));
  uint32_t* prompt = malloc((size_t)(prefill > 0 ? prefill : 1) * sizeof(uint32_t));
  if (!state || !logits || !prompt || n_vocab == 0) return fail("out of memory");

  /* A fixed pseudo-random prompt (a 64-bit LCG, high bits), ids in [0, n_vocab). */
  uint64_t x = (uint64_t)seed * 0x9E3779B97F4A7C15ull + 1;
  for (long i = 0; i < prefill; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    prompt[i] = (uint32_t)((x >> 33) % n_vocab);
  }

  /* Prefill: one untimed call (the graph for this length is built and cached), one timed. */
  double prefill_ms = 0;
  uint32_t next = prefill > 0 ? prompt[0] : 0;
  for (int pass = 0; pass < 2 && prefill > 0; ++pass) {
    const double t0 = now_s();
    const bool ok = chunk > 0 ? rwkv_eval_sequence_in_chunks(ctx, prompt, (size_t)prefill, (size_t)chunk, NULL, state,
                                                             logits)
                              : rwkv_eval_sequence(ctx, prompt, (size_t)prefill, NULL, state, logits);
    if (!ok) return fail_rwkv(ctx, chunk > 0 ? "rwkv_eval_sequence_in_chunks" : "rwkv_eval_sequence");
    prefill_ms = (now_s() - t0) * 1e3;
  }
  if (prefill > 0) next = argmax(logits, logits_len);
  if (tokens_out) {
    FILE* f = fopen(tokens_out, "w");
    if (!f) return fail("cannot write --tokens-out");
    for (long i = 0; i < prefill; ++i) fprintf(f, "%s%u", i ? "," : "", (unsigned)prompt[i]);
    fputc('\n', f);
    if (fclose(f) != 0) return fail("cannot write --tokens-out");
  }
  if (logits_out) {
    if (prefill == 0) return fail("--logits-out needs a prompt (--prefill > 0)");
    FILE* f = fopen(logits_out, "wb");
    if (!f) return fail("cannot write --logits-out");
    const size_t n = fwrite(logits, sizeof(float), logits_len, f);
    if (fclose(f) != 0 || n != logits_len) return fail("cannot write --logits-out");
  }
  else rwkv_init_state(ctx, state);

  /* Decode: W untimed steps, then D timed ones; the state is updated in place. */
  double t_decode = now_s();
  for (long i = 0; i < warmup + decode; ++i) {
    if (i == warmup) t_decode = now_s();
    if (!rwkv_eval(ctx, next, state, state, logits)) return fail_rwkv(ctx, "rwkv_eval");
    next = argmax(logits, logits_len);
  }
  const double decode_ms = decode > 0 ? (now_s() - t_decode) * 1e3 : 0;

  const double prefill_tok_s = prefill > 0 ? (double)prefill / (prefill_ms * 1e-3) : 0;
  const double decode_tok_s = decode > 0 ? (double)decode / (decode_ms * 1e-3) : 0;
  printf("prefill_tok_s=%.3f decode_tok_s=%.3f prefill_ms=%.3f decode_ms=%.3f load_ms=%.1f prefill_tokens=%ld "
         "chunk=%ld decode_steps=%ld warmup_steps=%ld threads=%ld n_vocab=%zu n_embed=%zu n_layer=%zu last_token=%u\n",
         prefill_tok_s, decode_tok_s, prefill_ms, decode_ms, load_ms, prefill, chunk, decode, warmup, threads, n_vocab,
         rwkv_get_n_embed(ctx), rwkv_get_n_layer(ctx), (unsigned)next);
  fflush(stdout);

  rwkv_free(ctx);
  free(state);
  free(logits);
  free(prompt);
  return 0;
}
