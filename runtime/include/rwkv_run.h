/* rwkv_run.h: the C API of rwkv-run, an inference runtime for RWKV language
 * models (versions 4, 5.x, 6, 7). C99, usable unchanged from C++.
 *
 * Link: librwkv_run.so. CMake: find_package(rwkv_run) then
 * target_link_libraries(app PRIVATE rwkv_run::rwkv_run). pkg-config: rwkv_run.
 *
 * Usage (error checks shortened; every call returns a status):
 *
 *   rwkv_model* model = NULL;
 *   char err[256];
 *   rwkv_model_params mp = rwkv_model_default_params();
 *   mp.device = "cpu";                                   // or "auto", "cuda", "cuda:1"
 *   if (rwkv_model_load("model.pth", &mp, &model, err, sizeof err) != RWKV_OK) {
 *     fprintf(stderr, "%s\n", err); return 1;
 *   }
 *   rwkv_model_info info;
 *   rwkv_model_get_info(model, &info);
 *   rwkv_tokenizer* tok = NULL;
 *   rwkv_tokenizer_load(info.tokenizer_kind, &tok, err, sizeof err);
 *   rwkv_sampler_params sp = rwkv_sampler_default_params();
 *   sp.seed = 42;
 *   sp.tokenizer = tok;                                  // pip's penalty weights
 *   rwkv_sampler* smp = NULL;
 *   rwkv_sampler_init(&sp, &smp, err, sizeof err);
 *   rwkv_generate_params gp = rwkv_generate_default_params();
 *   gp.max_tokens = 100;
 *   gp.on_text = print_piece;                            // int print_piece(const char*, size_t, void*)
 *   if (rwkv_generate(model, 0, tok, smp, "Hello", 5, &gp, NULL) != RWKV_OK)
 *     fprintf(stderr, "%s\n", rwkv_model_last_error(model));
 *   rwkv_state_save(model, 0, "chat.state");             // continue later with rwkv_state_load
 *   rwkv_sampler_free(&smp); rwkv_tokenizer_free(&tok); rwkv_model_free(&model);
 *
 * Conventions
 *  - Handles (rwkv_model, rwkv_tokenizer, rwkv_sampler) are opaque. A
 *    constructor returns a status and writes the handle through its `out`
 *    argument (NULL on failure); its message goes into the caller's `error`
 *    buffer (may be NULL; truncated to error_size - 1 bytes, always
 *    NUL-terminated when error_size > 0). *_free(&h) releases a handle and sets
 *    h to NULL, so a later call with h returns RWKV_ERR_INVALID_ARGUMENT; using
 *    another copy of a freed pointer is undefined. *_free(NULL) and freeing a
 *    NULL handle do nothing.
 *  - Every other function returns rwkv_status. On failure it changes nothing
 *    the caller can see unless its comment says otherwise, and stores a message
 *    for rwkv_*_last_error(handle) (for failures with a NULL handle there is no
 *    message: rwkv_status_string() describes the code).
 *  - Last errors are kept per handle AND per calling thread: a thread only sees
 *    the message of its own last failed call on that handle. The returned
 *    string is owned by the handle and stays valid until the same thread's next
 *    call on that handle, or until the handle is freed.
 *  - No C++ exception crosses this API; out-of-memory is RWKV_ERR_OUT_OF_MEMORY.
 *  - Sizes are size_t, token ids int32_t, logits float32.
 *  - Two-call size queries (tokenizer encode/decode): pass a NULL buffer and 0
 *    capacity to get the needed size (RWKV_OK); with a buffer that is too small
 *    the needed size is written and RWKV_ERR_BUFFER_TOO_SMALL returned.
 *
 * Thread-safety
 *  - rwkv_model: every function but rwkv_model_free may be called from any
 *    thread, concurrently.
 *    Calls that compute or touch states are serialised internally (one at a
 *    time per model); concurrent calls on the same slot are safe but their
 *    order is not defined, so give each thread its own slots.
 *  - rwkv_tokenizer: read-only after load; any number of threads at once.
 *  - rwkv_sampler: mutable (random stream, penalty counts): one thread at a time.
 *  - Functions without a handle (version, defaults, status strings) always.
 */
#ifndef RWKV_RUN_H
#define RWKV_RUN_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(RWKV_RUN_BUILDING)
#    define RWKV_API __declspec(dllexport)
#  else
#    define RWKV_API __declspec(dllimport)
#  endif
#else
#  define RWKV_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define RWKV_RUN_VERSION_MAJOR 0
#define RWKV_RUN_VERSION_MINOR 1
#define RWKV_RUN_VERSION_PATCH 0

/* ==========================================================================
 * Status codes and library information
 * ========================================================================== */

typedef enum rwkv_status {
  RWKV_OK = 0,
  RWKV_ERR_INVALID_ARGUMENT = 1,  /* NULL handle or pointer, bad option value, bad token id */
  RWKV_ERR_OUT_OF_RANGE = 2,      /* slot index outside [0, n_slots) */
  RWKV_ERR_BUFFER_TOO_SMALL = 3,  /* output buffer too small; the needed size was written */
  RWKV_ERR_BUFFER_SIZE = 4,       /* a buffer's size is not what the call requires (state buffers) */
  RWKV_ERR_FILE = 5,              /* a file cannot be opened, read, written or renamed; not a regular
                                     file (a directory, FIFO, socket or device: refused at once, never
                                     waited on); or it changed while it was being read */
  RWKV_ERR_FORMAT = 6,            /* a file's content is malformed or unsupported (model, state, tokenizer;
                                     e.g. tensors sharing bytes, gaps in layer numbers) */
  RWKV_ERR_CHECKSUM = 7,          /* a state file is corrupted or truncated */
  RWKV_ERR_STATE_MISMATCH = 8,    /* a state file was saved for another model */
  RWKV_ERR_UNSUPPORTED = 9,       /* device or option not available in this build / on this model */
  RWKV_ERR_DEVICE = 10,           /* CUDA / cuBLAS error, or no CUDA device */
  RWKV_ERR_OUT_OF_MEMORY = 11,    /* host or device allocation failed (also: a file asked for more) */
  RWKV_ERR_INTERNAL = 12          /* anything else (a bug: please report the message) */
} rwkv_status;

/* The library's version, "MAJOR.MINOR.PATCH". Static string, never freed. */
RWKV_API const char* rwkv_version(void);

/* The GPU path this library was built with: "cuda", "emu" (the CPU emulator of
 * CUDA used for testing) or "none". Static string. */
RWKV_API const char* rwkv_gpu_support(void);

/* A short English description of a status code ("invalid argument", ...).
 * Static string; unknown codes give "unknown status". */
RWKV_API const char* rwkv_status_string(rwkv_status status);

/* ==========================================================================
 * Model: weights on a device plus a pool of state slots
 * ========================================================================== */

typedef struct rwkv_model rwkv_model;

typedef struct rwkv_model_params {
  /* "cpu" (default), "cuda" (= "cuda:0"), "cuda:N" (N < 1024), or "auto" (the
   * first usable CUDA device, else cpu; rwkv_model_info.device tells which).
   * NULL means "cpu". CUDA needs a library built with a GPU path
   * (rwkv_gpu_support(); "auto" never picks the "emu" emulator). */
  const char* device;
  /* Weights' dtype: "fp32", "fp16", "bf16", or NULL for the checkpoint's own
   * (cpu: dense matrices held in it, sums in fp32; cuda: the GEMMs' dtype). */
  const char* dtype;
  /* CPU worker threads; 0 = all hardware threads. Ignored by cuda. */
  int32_t n_threads;
  /* Number of state slots (independent sequences), >= 1. Default 1. */
  int32_t n_slots;
  /* Prompt tokens per forward call in rwkv_eval, rwkv_eval_batch and rwkv_generate; >= 1.
   * Default 256. Any value gives the same result up to rounding. */
  int32_t chunk_len;
  /* Optional: called from the loading thread while the model file is read,
   * with the bytes read so far and the file's size (a progress display for
   * large files); NULL (default) for none. progress_user_data is passed to it. */
  void (*progress)(void* user_data, uint64_t done, uint64_t total);
  void* progress_user_data;
} rwkv_model_params;

/* The defaults above. Never fails. */
RWKV_API rwkv_model_params rwkv_model_default_params(void);

/* Loads a model file (official .pth, safetensors, rwkv.cpp .bin; the format is
 * detected from the content) onto a device, with params->n_slots state slots,
 * each set to the model's initial state.
 * The file is read into memory once (it is not kept mapped), so truncating or
 * rewriting it while or after it loads cannot crash the process.
 * Returns RWKV_OK, RWKV_ERR_INVALID_ARGUMENT (NULL path/out, bad params: n_slots,
 * n_threads, chunk_len, an unknown device or dtype string), RWKV_ERR_FILE
 * (missing, unreadable, not a regular file: a directory, FIFO, socket or device,
 * refused without blocking; changed while being read), RWKV_ERR_FORMAT (not a
 * model file, or a malformed, inconsistent or unsupported one),
 * RWKV_ERR_UNSUPPORTED (a device or dtype this build or device lacks),
 * RWKV_ERR_DEVICE, RWKV_ERR_OUT_OF_MEMORY.
 * - path:   model file (UTF-8 / native encoding), not kept after the call.
 * - params: NULL for rwkv_model_default_params(); not kept.
 * - out:    receives the handle (NULL on failure); free with rwkv_model_free.
 * - error, error_size: optional buffer for the failure message.
 * Thread-safe (different calls load independent models). */
RWKV_API rwkv_status rwkv_model_load(const char* path, const rwkv_model_params* params,
                                     rwkv_model** out, char* error, size_t error_size);

/* Frees the model, its device memory and slots, and sets *model to NULL.
 * No call on this model may be running in another thread. NULL is ignored. */
RWKV_API void rwkv_model_free(rwkv_model** model);

/* The message of this thread's last failed call on `model` ("" if none; a
 * static message for a NULL model). Owned by the model: valid until this
 * thread's next call on it or rwkv_model_free. */
RWKV_API const char* rwkv_model_last_error(const rwkv_model* model);

typedef struct rwkv_model_info {
  const char* format;          /* "pth", "safetensors" or "ggml" */
  const char* version;         /* architecture: "4", "5.0", "5.1", "5.2", "6", "7" */
  const char* device;          /* "cpu" or "cuda:N" */
  const char* dtype;           /* compute dtype of the weights: "fp32", "fp16", "bf16" */
  const char* tokenizer_kind;  /* "world", "20b", "bytes" (for rwkv_tokenizer_load), or "" */
  int32_t n_embd;              /* C */
  int32_t n_layer;             /* L */
  int32_t n_vocab;             /* V: logits per token */
  int32_t n_head;              /* H (0 for version 4) */
  int32_t head_size;           /* N (0 for version 4) */
  int32_t n_att;               /* H*N (version 4: C) */
  int32_t n_ffn;               /* F */
  int32_t n_slots;             /* state slots */
  int64_t n_params;            /* parameters in the checkpoint */
  size_t state_size;           /* bytes of one slot's state (float32) */
  size_t device_bytes;         /* device memory held (weights, workspace, slots); 0 on "cpu" */
} rwkv_model_info;

/* Fills *info. Its strings are owned by the model and valid until
 * rwkv_model_free. Returns RWKV_OK or RWKV_ERR_INVALID_ARGUMENT (NULL). */
RWKV_API rwkv_status rwkv_model_get_info(const rwkv_model* model, rwkv_model_info* info);

/* ==========================================================================
 * Evaluation: tokens in, logits out
 * ========================================================================== */

/* Feeds tokens to one slot, updating its state; more than one token is a
 * prefill (processed in chunks of chunk_len tokens). Writes the logits after
 * the last token.
 * Returns RWKV_OK, RWKV_ERR_INVALID_ARGUMENT (NULL model or tokens, n_tokens
 * 0, a token outside [0, n_vocab)), RWKV_ERR_OUT_OF_RANGE (slot),
 * RWKV_ERR_BUFFER_SIZE (logits_len < n_vocab), RWKV_ERR_DEVICE,
 * RWKV_ERR_OUT_OF_MEMORY. Arguments are checked before the state is touched;
 * a device error in a later chunk leaves the state partly advanced.
 * - tokens, n_tokens: the token ids (n_tokens >= 1); not kept.
 * - logits: n_vocab floats written (host memory), or NULL for no logits
 *   (saves the head matrix product: prefill only). logits_len: its size in floats.
 * Thread-safe (serialised per model). */
RWKV_API rwkv_status rwkv_eval(rwkv_model* model, int32_t slot, const int32_t* tokens,
                               size_t n_tokens, float* logits, size_t logits_len);

/* One sequence of rwkv_eval_batch. */
typedef struct rwkv_seq {
  int32_t slot;           /* state slot; all slots of a batch must differ */
  const int32_t* tokens;  /* token ids */
  size_t n_tokens;        /* >= 1; lengths may differ within a batch */
} rwkv_seq;

/* Feeds several slots at once in one batched forward pass (decode steps of
 * many sequences, prefills, or a mix). Row i of `logits` receives the logits
 * after seqs[i]'s last token.
 * Returns as rwkv_eval; RWKV_ERR_INVALID_ARGUMENT also for n_seqs 0 or a slot
 * used twice. Nothing is touched when an argument is bad.
 * - seqs, n_seqs: the sequences; not kept.
 * - logits: n_seqs * n_vocab floats (row-major), or NULL for none;
 *   logits_len: its size in floats.
 * Thread-safe (serialised per model). */
RWKV_API rwkv_status rwkv_eval_batch(rwkv_model* model, const rwkv_seq* seqs, size_t n_seqs,
                                     float* logits, size_t logits_len);

/* ==========================================================================
 * State slots
 *
 * A slot's state is one float32 buffer of rwkv_model_info.state_size bytes in
 * the official per-version order (the same on every device, so a state read
 * from a "cuda" model can be written to a "cpu" model of the same file).
 * ========================================================================== */

/* Writes the state size in bytes to *bytes. RWKV_OK or RWKV_ERR_INVALID_ARGUMENT
 * (NULL model or bytes). */
RWKV_API rwkv_status rwkv_state_size(const rwkv_model* model, size_t* bytes);

/* Sets a slot to the model's initial state (a fresh sequence).
 * RWKV_OK, RWKV_ERR_INVALID_ARGUMENT, RWKV_ERR_OUT_OF_RANGE, RWKV_ERR_DEVICE. */
RWKV_API rwkv_status rwkv_state_reset(rwkv_model* model, int32_t slot);

/* Copies slot src to slot dst (fork a sequence; src == dst does nothing).
 * RWKV_OK, RWKV_ERR_INVALID_ARGUMENT, RWKV_ERR_OUT_OF_RANGE, RWKV_ERR_DEVICE. */
RWKV_API rwkv_status rwkv_state_copy(rwkv_model* model, int32_t src_slot, int32_t dst_slot);

/* Copies a slot's state into the caller's buffer `dst` of `dst_bytes` bytes
 * (at least the state size; exactly state_size bytes are written).
 * RWKV_OK, RWKV_ERR_INVALID_ARGUMENT (NULL), RWKV_ERR_OUT_OF_RANGE,
 * RWKV_ERR_BUFFER_SIZE (dst_bytes < state size), RWKV_ERR_DEVICE. */
RWKV_API rwkv_status rwkv_state_read(const rwkv_model* model, int32_t slot, void* dst,
                                     size_t dst_bytes);

/* Sets a slot's state from the caller's buffer `src` of exactly the state size
 * (src_bytes must equal it). The values are not checked: pass a state read
 * from this model (or the same model file on another device).
 * RWKV_OK, RWKV_ERR_INVALID_ARGUMENT, RWKV_ERR_OUT_OF_RANGE,
 * RWKV_ERR_BUFFER_SIZE, RWKV_ERR_DEVICE. */
RWKV_API rwkv_status rwkv_state_write(rwkv_model* model, int32_t slot, const void* src,
                                      size_t src_bytes);

/* Saves a slot's state to a file, atomically: written to a temporary file in
 * the same directory, flushed to disk, then renamed over `path` (a crash
 * leaves the old file or the new one, never a mix). The file carries a magic,
 * a format version, the model's fingerprint and a checksum.
 * RWKV_OK, RWKV_ERR_INVALID_ARGUMENT (NULL model, NULL or empty path),
 * RWKV_ERR_OUT_OF_RANGE, RWKV_ERR_FILE (cannot create, write or rename),
 * RWKV_ERR_DEVICE. */
RWKV_API rwkv_status rwkv_state_save(const rwkv_model* model, int32_t slot, const char* path);

/* Loads a state file written by rwkv_state_save into a slot. The file is
 * verified completely before the slot is touched: RWKV_ERR_FILE (cannot
 * open or read; not a regular file: a directory, FIFO, socket or device is
 * refused without blocking), RWKV_ERR_FORMAT (not a state file, unknown version),
 * RWKV_ERR_CHECKSUM (corrupted or truncated), RWKV_ERR_STATE_MISMATCH (saved
 * for a model with other hyper-parameters or weights). Also
 * RWKV_ERR_INVALID_ARGUMENT (NULL model, NULL or empty path),
 * RWKV_ERR_OUT_OF_RANGE, RWKV_ERR_DEVICE. */
RWKV_API rwkv_status rwkv_state_load(rwkv_model* model, int32_t slot, const char* path);

/* ==========================================================================
 * Tokenizer
 * ========================================================================== */

typedef struct rwkv_tokenizer rwkv_tokenizer;

/* Loads a tokenizer. `path_or_kind`: "world", "20b" (the standard files, looked
 * up in $RWKV_TOKENIZER_DIR when set, else in ../share/rwkv-run/tokenizers
 * relative to the running program's directory (an installed rwkv-run's), then
 * $XDG_DATA_HOME/rwkv-run/tokenizers, else ~/.local/share/rwkv-run/tokenizers;
 * missing: RWKV_ERR_FILE naming them), "bytes" (token = byte, no file), or a
 * file path (a Hugging Face tokenizer.json, or a World vocabulary).
 * rwkv_model_info.tokenizer_kind names the kind that fits a model.
 * A file named rwkv_vocab_v20230424.txt must hold the official World
 * vocabulary exactly (a truncated or edited copy is RWKV_ERR_FORMAT; give a
 * custom vocabulary another name).
 * Returns RWKV_OK, RWKV_ERR_INVALID_ARGUMENT (NULL or empty path_or_kind, NULL
 * out), RWKV_ERR_FILE (missing or unreadable; not a regular file, refused without
 * blocking), RWKV_ERR_FORMAT (not a tokenizer file, or malformed),
 * RWKV_ERR_OUT_OF_MEMORY. out, error, error_size: as rwkv_model_load. */
RWKV_API rwkv_status rwkv_tokenizer_load(const char* path_or_kind, rwkv_tokenizer** out,
                                         char* error, size_t error_size);

/* Frees the tokenizer and sets *tokenizer to NULL. Samplers made with it stay
 * valid (they keep their own copy of what they need). NULL is ignored. */
RWKV_API void rwkv_tokenizer_free(rwkv_tokenizer** tokenizer);

/* As rwkv_model_last_error, for a tokenizer. */
RWKV_API const char* rwkv_tokenizer_last_error(const rwkv_tokenizer* tokenizer);

/* "world", "20b" or "bytes"; static string. NULL for a NULL tokenizer. */
RWKV_API const char* rwkv_tokenizer_kind(const rwkv_tokenizer* tokenizer);

/* Vocabulary size (65536, 50277 or 256); -1 for a NULL tokenizer. */
RWKV_API int32_t rwkv_tokenizer_n_vocab(const rwkv_tokenizer* tokenizer);

/* Text (bytes, normally UTF-8; any bytes accepted) to token ids. Two-call:
 * tokens NULL and capacity 0 give the count in *n_tokens with RWKV_OK.
 * - text, text_len: the text (need not be NUL-terminated; NULL only if text_len 0).
 * - tokens, capacity: output buffer and its size in tokens.
 * - n_tokens: receives the number of tokens of the text (always, when not NULL).
 * Returns RWKV_OK, RWKV_ERR_BUFFER_TOO_SMALL (nothing written to tokens),
 * RWKV_ERR_INVALID_ARGUMENT. */
RWKV_API rwkv_status rwkv_tokenizer_encode(const rwkv_tokenizer* tokenizer, const char* text,
                                           size_t text_len, int32_t* tokens, size_t capacity,
                                           size_t* n_tokens);

/* The number of tokens of a text (the size query of rwkv_tokenizer_encode).
 * RWKV_OK or RWKV_ERR_INVALID_ARGUMENT (NULL tokenizer or n_tokens, NULL text
 * with text_len > 0). */
RWKV_API rwkv_status rwkv_tokenizer_count(const rwkv_tokenizer* tokenizer, const char* text,
                                          size_t text_len, size_t* n_tokens);

/* Token ids to their bytes, concatenated (raw bytes: a character may be split
 * over tokens, so a slice of tokens can give invalid UTF-8; rwkv_generate
 * streams complete characters only). World's id 0 gives ""; 20B's special
 * tokens give their literal text ("<|endoftext|>").
 * Two-call: text NULL and capacity 0 give the length in *text_len with RWKV_OK.
 * - text, capacity: output buffer; needs *text_len + 1 bytes (a NUL is added;
 *   the bytes themselves may contain NULs, so use *text_len).
 * - text_len: receives the length in bytes without the NUL (always, when not NULL).
 * Returns RWKV_OK, RWKV_ERR_BUFFER_TOO_SMALL, RWKV_ERR_INVALID_ARGUMENT (also
 * for an id outside [0, n_vocab)). */
RWKV_API rwkv_status rwkv_tokenizer_decode(const rwkv_tokenizer* tokenizer, const int32_t* tokens,
                                           size_t n_tokens, char* text, size_t capacity,
                                           size_t* text_len);

/* ==========================================================================
 * Sampler (pip PIPELINE semantics: top-p on softmax at temperature 1, then
 * top-k, then temperature on probabilities; presence/frequency penalties
 * with decay; see docs/rwkv-math.md section 8.1-8.2)
 * ========================================================================== */

typedef struct rwkv_sampler rwkv_sampler;

typedef struct rwkv_sampler_params {
  double temperature;       /* >= 0; 0 = greedy. Default 1.0 */
  double top_p;             /* [0, 1]; 0 = greedy. Default 0.85 */
  int32_t top_k;            /* keep the k most likely; 0 = no limit. Default 0 */
  double alpha_presence;    /* subtracted from the logit of every generated token. Default 0.2 */
  double alpha_frequency;   /* times the token's decayed count. Default 0.2 */
  double alpha_decay;       /* counts are multiplied by this after each token. Default 0.996 */
  const int32_t* banned_tokens;  /* never drawn (logit -inf); copied at init. Default NULL */
  size_t n_banned_tokens;
  const int32_t* stop_tokens;    /* drawing one ends generation; it is not counted. Copied. Default NULL */
  size_t n_stop_tokens;
  uint64_t seed;            /* random stream seed: same seed, same logits -> same tokens. Default 0 */
  /* Optional: a tokenizer whose token texts give pip's frequency weights (0 for
   * tokens whose text lies within " \t0123456789", else 1). NULL: weight 1 for
   * every token. Read at init only; need not outlive the sampler. */
  const rwkv_tokenizer* tokenizer;
} rwkv_sampler_params;

/* The defaults above (pip's PIPELINE_ARGS). Never fails. */
RWKV_API rwkv_sampler_params rwkv_sampler_default_params(void);

/* Creates a sampler. Returns RWKV_OK, RWKV_ERR_INVALID_ARGUMENT (NULL params
 * or out, negative or NaN temperature, top_p outside [0, 1], negative top_k,
 * NaN alphas, NULL token arrays with a non-zero count), RWKV_ERR_OUT_OF_MEMORY.
 * out, error, error_size: as rwkv_model_load. */
RWKV_API rwkv_status rwkv_sampler_init(const rwkv_sampler_params* params, rwkv_sampler** out,
                                       char* error, size_t error_size);

/* Frees the sampler and sets *sampler to NULL. NULL is ignored. */
RWKV_API void rwkv_sampler_free(rwkv_sampler** sampler);

/* As rwkv_model_last_error, for a sampler. */
RWKV_API const char* rwkv_sampler_last_error(const rwkv_sampler* sampler);

/* Draws one token from logits (bans and penalties applied to a copy; the
 * input is not modified). A stop token sets *is_stop = 1 and is not counted;
 * otherwise *is_stop = 0 and the token enters the penalty counts.
 * Returns RWKV_OK, RWKV_ERR_INVALID_ARGUMENT (NULL, n_logits 0, NaN logits,
 * every token banned or -inf).
 * - logits, n_logits: the model's logits (n_vocab floats).
 * - token: receives the id. is_stop: receives 0 or 1 (may be NULL).
 * Not thread-safe (one thread per sampler). */
RWKV_API rwkv_status rwkv_sampler_sample(rwkv_sampler* sampler, const float* logits,
                                         size_t n_logits, int32_t* token, int32_t* is_stop);

/* Forgets the penalty counts (a new text); the random stream goes on.
 * RWKV_OK or RWKV_ERR_INVALID_ARGUMENT (NULL sampler). */
RWKV_API rwkv_status rwkv_sampler_reset(rwkv_sampler* sampler);

/* Restarts the random stream from `seed`. RWKV_OK or RWKV_ERR_INVALID_ARGUMENT
 * (NULL sampler). */
RWKV_API rwkv_status rwkv_sampler_set_seed(rwkv_sampler* sampler, uint64_t seed);

/* ==========================================================================
 * Generation: prompt in, streamed text out
 * ========================================================================== */

/* Receives a piece of generated text: `len` bytes of complete, valid UTF-8
 * (a character split over tokens is held back until complete; invalid bytes
 * arrive as U+FFFD), followed by a NUL not counted in len. The pointer is valid
 * during the call only. Return 0 to go on, non-zero to stop generation. */
typedef int (*rwkv_text_callback)(const char* text, size_t len, void* user_data);

typedef enum rwkv_stop_reason {
  RWKV_STOP_MAX_TOKENS = 0,   /* max_tokens tokens were generated */
  RWKV_STOP_TOKEN = 1,        /* the sampler drew one of its stop tokens */
  RWKV_STOP_STRING = 2,       /* the text contained a stop string (not emitted) */
  RWKV_STOP_CALLBACK = 3      /* on_text returned non-zero */
} rwkv_stop_reason;

typedef struct rwkv_generate_params {
  int32_t max_tokens;            /* tokens to generate at most; 0 = prefill the prompt only. Default 256 */
  const char* const* stop_strings;  /* UTF-8 strings ending generation (text level). Default NULL */
  size_t n_stop_strings;
  rwkv_text_callback on_text;    /* may be NULL */
  void* user_data;               /* passed to on_text */
  int32_t* tokens_out;           /* optional: receives the generated token ids */
  size_t tokens_out_capacity;    /* its size; further tokens are not stored (see n_tokens) */
  int32_t keep_penalties;        /* 0 (default, pip): reset the sampler's penalty counts first */
} rwkv_generate_params;

typedef struct rwkv_generate_result {
  size_t n_prompt_tokens;        /* tokens of the prompt */
  size_t n_tokens;               /* tokens generated (the stop token not counted) */
  rwkv_stop_reason stop_reason;
  int32_t stop_token;            /* the stop token drawn, or -1 */
  double prefill_seconds;        /* wall time of the prompt's prefill (to its logits) */
  double decode_seconds;         /* wall time of the rest: sampling, streaming, feeding tokens */
} rwkv_generate_result;

/* The defaults above. Never fails. */
RWKV_API rwkv_generate_params rwkv_generate_default_params(void);

/* Generates text in one slot, continuing from the slot's current state (call
 * rwkv_state_reset first for a fresh start): the prompt is tokenized and
 * prefilled in chunks, then tokens are sampled and fed back one at a time
 * until a stop token, a stop string, the callback, or max_tokens. On return
 * the slot's state has consumed the prompt and every generated token (not a
 * stop token), so a later call continues the text.
 * Returns RWKV_OK (whatever the stop reason), RWKV_ERR_INVALID_ARGUMENT (NULL
 * handles, empty prompt, negative max_tokens, stop string not valid UTF-8,
 * tokenizer and model vocabularies differ), RWKV_ERR_OUT_OF_RANGE (slot),
 * RWKV_ERR_DEVICE, RWKV_ERR_OUT_OF_MEMORY. After a failure during generation
 * the state is partly advanced.
 * - prompt, prompt_len: UTF-8 text (need not be NUL-terminated).
 * - params: NULL for the defaults. result: may be NULL.
 * Errors are reported on the model (rwkv_model_last_error).
 * Thread-safety: holds the model only during each forward pass, so other
 * threads can use other slots meanwhile; the sampler must not be used by
 * another thread during the call (the tokenizer may). The callback runs in
 * the calling thread outside the model's lock: it may call the API, but must
 * not use this slot or this sampler. */
RWKV_API rwkv_status rwkv_generate(rwkv_model* model, int32_t slot,
                                   const rwkv_tokenizer* tokenizer, rwkv_sampler* sampler,
                                   const char* prompt, size_t prompt_len,
                                   const rwkv_generate_params* params,
                                   rwkv_generate_result* result);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* RWKV_RUN_H */
