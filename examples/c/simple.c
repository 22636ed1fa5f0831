/* examples/c/simple.c: the rwkv-run C API from plain C99.
 *
 *   rwkv_example_simple MODEL [STATE_FILE] [DEVICE]
 *
 * Loads MODEL (a byte-level test model works: testdata/models/tiny-rwkv-*.pth),
 * generates text from a prompt with a fixed seed (twice, to show the run
 * repeats), saves the slot's state to STATE_FILE (default "simple.state"),
 * feeds one more token, restores the saved state into another slot and
 * checks that the same token gives the same logits there. Exits 0 when every
 * check holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rwkv_run.h"

/* Collects generated text; prints it as it comes. */
typedef struct text_buffer {
  char data[4096];
  size_t len;
} text_buffer;

static int on_text(const char* text, size_t len, void* user_data) {
  text_buffer* buf = (text_buffer*)user_data;
  if (buf->len + len < sizeof buf->data) {
    memcpy(buf->data + buf->len, text, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
  }
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  return 0; /* go on */
}

static int check(rwkv_status s, const rwkv_model* model, const char* what) {
  if (s == RWKV_OK) return 1;
  fprintf(stderr, "%s failed: %s (%s)\n", what, rwkv_status_string(s), rwkv_model_last_error(model));
  return 0;
}

/* Generates 48 tokens from a fresh state of `slot` with seed 42 into *out. */
static int generate(rwkv_model* model, const rwkv_tokenizer* tok, int32_t slot, text_buffer* out) {
  rwkv_sampler_params sp = rwkv_sampler_default_params();
  rwkv_sampler* sampler = NULL;
  rwkv_generate_params gp = rwkv_generate_default_params();
  rwkv_generate_result result;
  char err[256];
  const char* prompt = "\"In the beginning,\" she said, \"";
  rwkv_status s;

  sp.seed = 42;
  sp.tokenizer = tok;
  if (rwkv_sampler_init(&sp, &sampler, err, sizeof err) != RWKV_OK) {
    fprintf(stderr, "sampler: %s\n", err);
    return 0;
  }
  out->len = 0;
  out->data[0] = '\0';
  gp.max_tokens = 48;
  gp.on_text = on_text;
  gp.user_data = out;
  printf("%s", prompt);
  s = rwkv_state_reset(model, slot);
  if (s == RWKV_OK) s = rwkv_generate(model, slot, tok, sampler, prompt, strlen(prompt), &gp, &result);
  printf("\n");
  rwkv_sampler_free(&sampler);
  if (!check(s, model, "rwkv_generate")) return 0;
  printf("[%zu prompt tokens, %zu generated]\n", result.n_prompt_tokens, result.n_tokens);
  return 1;
}

int main(int argc, char** argv) {
  const char* model_path;
  const char* state_path = argc > 2 ? argv[2] : "simple.state";
  rwkv_model_params mp = rwkv_model_default_params();
  rwkv_model* model = NULL;
  rwkv_tokenizer* tok = NULL;
  rwkv_model_info info;
  text_buffer first, second;
  float *logits_a = NULL, *logits_b = NULL;
  int32_t next_token[1];
  size_t n;
  char err[512];
  int ok = 0;

  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL [STATE_FILE] [DEVICE]\n", argv[0]);
    return 2;
  }
  model_path = argv[1];
  printf("rwkv-run %s (GPU path: %s)\n", rwkv_version(), rwkv_gpu_support());

  mp.device = argc > 3 ? argv[3] : "cpu";
  mp.n_slots = 2;
  if (rwkv_model_load(model_path, &mp, &model, err, sizeof err) != RWKV_OK) {
    fprintf(stderr, "cannot load %s: %s\n", model_path, err);
    return 1;
  }
  rwkv_model_get_info(model, &info);
  printf("RWKV-%s %s on %s (%s): %d layers, n_embd %d, vocabulary %d, state %zu bytes\n", info.version,
         info.format, info.device, info.dtype, info.n_layer, info.n_embd, info.n_vocab, info.state_size);
  if (rwkv_tokenizer_load(info.tokenizer_kind, &tok, err, sizeof err) != RWKV_OK) {
    fprintf(stderr, "tokenizer: %s\n", err);
    goto done;
  }

  /* 1. A fixed seed gives the same text twice. */
  if (!generate(model, tok, 0, &first) || !generate(model, tok, 0, &second)) goto done;
  if (first.len != second.len || memcmp(first.data, second.data, first.len) != 0) {
    fprintf(stderr, "FAIL: the same seed gave different text\n");
    goto done;
  }

  /* 2. Save slot 0, feed one token, restore into slot 1, feed it again. */
  if (!check(rwkv_state_save(model, 0, state_path), model, "rwkv_state_save")) goto done;
  logits_a = (float*)malloc(sizeof(float) * (size_t)info.n_vocab);
  logits_b = (float*)malloc(sizeof(float) * (size_t)info.n_vocab);
  if (!logits_a || !logits_b) goto done;
  if (rwkv_tokenizer_encode(tok, " ", 1, next_token, 1, &n) != RWKV_OK || n != 1) {
    fprintf(stderr, "cannot encode the next token: %s\n", rwkv_tokenizer_last_error(tok));
    goto done;
  }
  if (!check(rwkv_eval(model, 0, next_token, 1, logits_a, (size_t)info.n_vocab), model, "rwkv_eval")) goto done;
  if (!check(rwkv_state_load(model, 1, state_path), model, "rwkv_state_load")) goto done;
  if (!check(rwkv_eval(model, 1, next_token, 1, logits_b, (size_t)info.n_vocab), model, "rwkv_eval")) goto done;
  if (memcmp(logits_a, logits_b, sizeof(float) * (size_t)info.n_vocab) != 0) {
    fprintf(stderr, "FAIL: the restored state gave other logits\n");
    goto done;
  }

  /* 3. Bad input gives a status, not a crash. */
  if (rwkv_eval(model, 7, next_token, 1, NULL, 0) != RWKV_ERR_OUT_OF_RANGE ||
      rwkv_eval(NULL, 0, next_token, 1, NULL, 0) != RWKV_ERR_INVALID_ARGUMENT) {
    fprintf(stderr, "FAIL: bad input was not refused\n");
    goto done;
  }
  printf("OK: fixed-seed generation repeats; saved and restored state gives identical logits\n");
  ok = 1;

done:
  free(logits_a);
  free(logits_b);
  rwkv_tokenizer_free(&tok);
  rwkv_model_free(&model);
  return ok ? 0 : 1;
}
