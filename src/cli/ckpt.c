/* ckpt: see ckpt.h. */
#include "cli/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "model/optim.h"

#define CKPT_MAGIC "HEMBCKPT"
#define CKPT_HEADER 64 /* magic (8), version (4), 0 (4), payload bytes (8), XXH64 of the payload (8), 0s */

/* --- writing: every byte after the header goes through put, which hashes it --- */

typedef struct {
    FILE *f;
    XXH64_state_t *h;
    uint64_t n;
    int bad;
} W;

static void put(W *w, const void *p, size_t n) {
    if (w->bad || !n) return;
    if (fwrite(p, 1, n, w->f) != n) w->bad = errno ? errno : EIO;
    XXH64_update(w->h, p, n);
    w->n += n;
}
static void put32(W *w, uint32_t v) { put(w, &v, 4); }
static void put64(W *w, uint64_t v) { put(w, &v, 8); }
static void putf64(W *w, double v) { put(w, &v, 8); }
/* a string in a field of `size` bytes, zero-padded (every size here a multiple of 4, so that what
 * follows stays 4-aligned) */
static void put_str(W *w, const char *str, size_t size) {
    char b[1024] = {0};
    CHECK(size <= sizeof b);
    snprintf(b, size, "%s", str);
    put(w, b, size);
}

static void put_run(W *w, const CkptRun *r) {
    put_str(w, r->config, sizeof r->config);
    put32(w, (uint32_t)r->model);
    put32(w, (uint32_t)r->dim);
    put32(w, (uint32_t)r->nhidden);
    for (int i = 0; i < MODEL_MAX_HIDDEN; i++) put32(w, (uint32_t)(i < r->nhidden ? r->hidden[i] : 0));
    put32(w, (uint32_t)r->batch);
    put32(w, (uint32_t)r->optim);
    putf64(w, r->lr);
    putf64(w, r->emb_l2);
    put64(w, r->seed);
    put32(w, (uint32_t)sizeof r->emb);
    put(w, &r->emb, sizeof r->emb);
    put_str(w, r->emb_flags, sizeof r->emb_flags);
    put_str(w, r->blas_core, sizeof r->blas_core);
    put_str(w, r->git_sha, sizeof r->git_sha);
    put_str(w, r->id_order, sizeof r->id_order);
    put32(w, (uint32_t)r->threads);
    put32(w, (uint32_t)r->fields);
    put(w, r->cards, (size_t)r->fields * sizeof *r->cards);
    put32(w, r->counts != NULL);
    if (r->counts)
        for (int f = 0; f < r->fields; f++) put(w, r->counts[f], (size_t)r->cards[f] * sizeof(uint32_t));
}

static void put_progress(W *w, const CkptProgress *p) {
    put32(w, (uint32_t)p->epoch);
    put32(w, (uint32_t)p->finished);
    put64(w, (uint64_t)p->step);
    put64(w, (uint64_t)p->optim_step);
    putf64(w, p->train_seconds);
    put64(w, p->samples);
    put32(w, (uint32_t)p->es.best);
    putf64(w, p->es.best_valid);
    put32(w, (uint32_t)p->es.since_best);
    putf64(w, p->valid_auc);
    putf64(w, p->valid_logloss);
    putf64(w, p->test_auc);
    putf64(w, p->test_logloss);
    for (int i = 0; i < p->epoch; i++) {
        const CurveRow *c = &p->curve[i];
        put32(w, (uint32_t)c->epoch);
        put64(w, (uint64_t)c->step);
        putf64(w, c->train_loss);
        putf64(w, c->valid_auc);
        putf64(w, c->valid_logloss);
        putf64(w, c->test_auc);
        putf64(w, c->seconds);
    }
}

static void put_state(W *w, const CkptState *s) {
    const Model *m = s->model;
    put64(w, m->nparams);
    put(w, m->params, m->nparams * sizeof(float));
    put32(w, (uint32_t)((s->dense_v != NULL) + (s->dense_m != NULL)));
    if (s->dense_v) put(w, s->dense_v, m->nparams * sizeof(float));
    if (s->dense_m) put(w, s->dense_m, m->nparams * sizeof(float));
    const Emb *emb = s->emb;
    put32(w, (uint32_t)emb->fields);
    for (int f = 0; f < emb->fields; f++) {
        const EmbField *fl = &emb->f[f];
        put32(w, (uint32_t)fl->ntables);
        for (int t = 0; t < fl->ntables; t++) {
            const EmbTable *tb = &fl->tables[t];
            const size_t n = (size_t)tb->rows * (size_t)tb->width * sizeof(float);
            put64(w, tb->rows);
            put32(w, (uint32_t)tb->width);
            put32(w, (uint32_t)((tb->v != NULL) + (tb->m != NULL)));
            put(w, tb->w, n);
            if (tb->v) put(w, tb->v, n);
            if (tb->m) put(w, tb->m, n);
        }
    }
}

static int write_file(const char *path, const CkptRun *run, const CkptProgress *p, const CkptState *s,
                      Err *e) {
    W w = {fopen(path, "wb"), XXH64_createState(), 0, 0};
    if (!w.f) {
        err_set(e, "%s: cannot create: %s", path, strerror(errno));
        XXH64_freeState(w.h);
        return -1;
    }
    setvbuf(w.f, NULL, _IOFBF, 1 << 20);
    XXH64_reset(w.h, 0);
    unsigned char head[CKPT_HEADER] = {0};
    if (fwrite(head, 1, CKPT_HEADER, w.f) != CKPT_HEADER) w.bad = errno ? errno : EIO;
    put_run(&w, run);
    put_progress(&w, p);
    put_state(&w, s);
    memcpy(head, CKPT_MAGIC, 8);
    const uint32_t version = CKPT_VERSION;
    const uint64_t sum = XXH64_digest(w.h);
    memcpy(head + 8, &version, 4);
    memcpy(head + 16, &w.n, 8);
    memcpy(head + 24, &sum, 8);
    XXH64_freeState(w.h);
    if (!w.bad && (fseek(w.f, 0, SEEK_SET) || fwrite(head, 1, CKPT_HEADER, w.f) != CKPT_HEADER))
        w.bad = errno ? errno : EIO;
    if (!w.bad && (fflush(w.f) || fsync(fileno(w.f)))) w.bad = errno ? errno : EIO;
    if (fclose(w.f) && !w.bad) w.bad = errno ? errno : EIO;
    if (w.bad) {
        err_set(e, "%s: cannot write: %s", path, strerror(w.bad));
        unlink(path);
        return -1;
    }
    return 0;
}

int ckpt_save(const char *path, const char *best_path, const CkptRun *run, const CkptProgress *p,
              const CkptState *s, Err *e) {
    char tmp[4200], btmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    if (write_file(tmp, run, p, s, e)) return -1;
    /* the best first (the same bytes: a hard link, a copy where links fail), then last: a crash
     * between the two leaves last at the epoch before, which a resume trains again, best included */
    if (best_path) {
        snprintf(btmp, sizeof btmp, "%s.tmp.%d", best_path, (int)getpid());
        unlink(btmp);
        int failed = link(tmp, btmp) ? write_file(btmp, run, p, s, e) != 0 : 0; /* write_file says why */
        if (!failed && rename(btmp, best_path)) {
            err_set(e, "%s: cannot rename %s into place: %s", best_path, btmp, strerror(errno));
            failed = 1;
        }
        if (failed) {
            unlink(btmp);
            unlink(tmp);
            return -1;
        }
    }
    if (rename(tmp, path)) {
        err_set(e, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    /* the renames themselves on disk (a power cut, not a kill, could otherwise undo them) */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    const int dfd = open(slash ? (dir[0] ? dir : "/") : ".", O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

void ckpt_clean_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[4200];
    while ((de = readdir(d)))
        if ((!strncmp(de->d_name, "last.tmp.", 9) || !strncmp(de->d_name, "best.tmp.", 9))) {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
    closedir(d);
}

/* --- reading: a cursor over the mapped payload that refuses to run past its end --- */

typedef struct {
    const unsigned char *p, *end;
    const char *path, *section;
    Err *e;
    int bad;
} R;

static const void *take(R *r, size_t n) {
    if (r->bad) return NULL;
    if ((size_t)(r->end - r->p) < n) {
        err_set(r->e, "%s: the %s section runs past the end of the file (damaged or not a checkpoint "
                      "this build wrote)", r->path, r->section);
        r->bad = 1;
        return NULL;
    }
    const void *q = r->p;
    r->p += n;
    return q;
}
static uint32_t get32(R *r) {
    uint32_t v = 0;
    const void *q = take(r, 4);
    if (q) memcpy(&v, q, 4);
    return v;
}
static uint64_t get64(R *r) {
    uint64_t v = 0;
    const void *q = take(r, 8);
    if (q) memcpy(&v, q, 8);
    return v;
}
static double getf64(R *r) {
    double v = 0;
    const void *q = take(r, 8);
    if (q) memcpy(&v, q, 8);
    return v;
}
static int bad_value(R *r, const char *what) {
    if (!r->bad) err_set(r->e, "%s: the %s section has a bad %s (damaged?)", r->path, r->section, what);
    r->bad = 1;
    return -1;
}
/* a string field of sizeof dst bytes, which must hold its terminating zero */
static void get_str(R *r, char *dst, size_t size) {
    const char *q = take(r, size);
    if (!q) return;
    if (!memchr(q, 0, size)) {
        bad_value(r, "string");
        return;
    }
    memcpy(dst, q, size);
}

static int get_run(R *r, Ckpt *k) {
    CkptRun *run = &k->run;
    r->section = "configuration";
    get_str(r, run->config, sizeof run->config);
    run->model = (ModelKind)get32(r);
    run->dim = (int)get32(r);
    run->nhidden = (int)get32(r);
    for (int i = 0; i < MODEL_MAX_HIDDEN; i++) run->hidden[i] = (int)get32(r);
    run->batch = (int)get32(r);
    run->optim = (OptKind)get32(r);
    run->lr = getf64(r);
    run->emb_l2 = getf64(r);
    run->seed = get64(r);
    if (r->bad) return -1;
    if ((unsigned)run->model >= MODEL_NKINDS || run->dim < 1 || run->dim > 4096 || run->nhidden < 0 ||
        run->nhidden > MODEL_MAX_HIDDEN || run->batch < 1 || run->batch > (1 << 20) ||
        (unsigned)run->optim >= OPT_NKINDS)
        return bad_value(r, "model description");
    if (get32(r) != sizeof run->emb) return bad_value(r, "strategy options size");
    const unsigned char *raw = take(r, sizeof run->emb);
    get_str(r, run->emb_flags, sizeof run->emb_flags);
    get_str(r, run->blas_core, sizeof run->blas_core);
    get_str(r, run->git_sha, sizeof run->git_sha);
    get_str(r, run->id_order, sizeof run->id_order);
    run->threads = (int)get32(r);
    if (r->bad) return -1;
    if (run->threads < 1 || run->threads > 1024) return bad_value(r, "thread count");
    /* the strategy options as the command line gave them, through every flag's own check (the raw
     * struct alone would let a crafted file past them), then held to the stored struct */
    Err pe;
    emb_options_default(&run->emb);
    if (emb_options_parse_string(&run->emb, run->emb_flags, &pe) || emb_options_check(&run->emb, &pe)) {
        if (!r->bad) err_set(r->e, "%s: the configuration section's strategy flags are refused (%s)", r->path, pe.msg);
        r->bad = 1;
        return -1;
    }
    run->emb.seed = run->seed;
    if (memcmp(&run->emb, raw, sizeof run->emb)) return bad_value(r, "strategy options (they do not match its flags)");
    run->fields = (int)get32(r);
    if (!r->bad && (run->fields < 1 || run->fields > 100000)) return bad_value(r, "field count");
    const void *c = take(r, (size_t)run->fields * 8);
    if (r->bad) return -1;
    run->cards = xmalloc((size_t)run->fields * sizeof *run->cards);
    memcpy(run->cards, c, (size_t)run->fields * 8);
    for (int f = 0; f < run->fields; f++)
        if (run->cards[f] < 1 || run->cards[f] > UINT32_MAX) return bad_value(r, "field cardinality");
    const uint32_t has = get32(r);
    if (has > 1) return bad_value(r, "counts flag");
    if (has) {
        k->counts_v = xcalloc((size_t)run->fields, sizeof *k->counts_v);
        for (int f = 0; f < run->fields && !r->bad; f++)
            k->counts_v[f] = take(r, (size_t)run->cards[f] * 4); /* 4-aligned: the mapping and every
                                                                  * size before it are */
        run->counts = (const uint32_t *const *)k->counts_v;
    }
    return r->bad ? -1 : 0;
}

static int get_progress(R *r, CkptProgress *p) {
    r->section = "progress";
    p->epoch = (int)get32(r);
    p->finished = (int)get32(r);
    p->step = (long)get64(r);
    p->optim_step = (long)get64(r);
    p->train_seconds = getf64(r);
    p->samples = get64(r);
    p->es.best = (int)get32(r);
    p->es.best_valid = getf64(r);
    p->es.since_best = (int)get32(r);
    p->valid_auc = getf64(r);
    p->valid_logloss = getf64(r);
    p->test_auc = getf64(r);
    p->test_logloss = getf64(r);
    if (r->bad) return -1;
    if (p->epoch < 1 || p->epoch > 100000 || p->finished < 0 || p->finished > 1 || p->es.best < 0 ||
        p->es.best > p->epoch || p->es.since_best < 0 || p->es.since_best > p->epoch || p->step < 0 ||
        p->optim_step < 0)
        return bad_value(r, "epoch count");
    p->curve = xcalloc((size_t)p->epoch, sizeof *p->curve);
    for (int i = 0; i < p->epoch && !r->bad; i++) {
        CurveRow *c = &p->curve[i];
        c->epoch = (int)get32(r);
        c->step = (long)get64(r);
        c->train_loss = getf64(r);
        c->valid_auc = getf64(r);
        c->valid_logloss = getf64(r);
        c->test_auc = getf64(r);
        c->seconds = getf64(r);
    }
    return r->bad ? -1 : 0;
}

int ckpt_open(Ckpt *k, const char *path, Err *e) {
    memset(k, 0, sizeof *k);
    k->path = path;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        err_set(e, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        err_set(e, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size < CKPT_HEADER) {
        err_set(e, "%s: bad magic: %lld bytes, shorter than a checkpoint's header (%d)", path,
                (long long)st.st_size, CKPT_HEADER);
        close(fd);
        return -1;
    }
    k->map_len = (size_t)st.st_size;
    k->map = mmap(NULL, k->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (k->map == MAP_FAILED) {
        k->map = NULL;
        err_set(e, "%s: cannot map: %s", path, strerror(errno));
        return -1;
    }
    const unsigned char *h = k->map;
    uint32_t version;
    uint64_t len, sum;
    memcpy(&version, h + 8, 4);
    memcpy(&len, h + 16, 8);
    memcpy(&sum, h + 24, 8);
    if (memcmp(h, CKPT_MAGIC, 8)) {
        err_set(e, "%s: bad magic: not a hashemb checkpoint", path);
        goto fail;
    }
    if (version != CKPT_VERSION) {
        err_set(e, "%s: unsupported version %u (this build reads version %d)", path, version, CKPT_VERSION);
        goto fail;
    }
    if (len != k->map_len - CKPT_HEADER) {
        err_set(e, "%s: length mismatch: the header says %llu bytes of payload, the file has %llu "
                   "(truncated?)", path, (unsigned long long)len, (unsigned long long)(k->map_len - CKPT_HEADER));
        goto fail;
    }
    const uint64_t got = XXH64(h + CKPT_HEADER, len, 0);
    if (got != sum) {
        err_set(e, "%s: checksum mismatch: header says %016llx, contents hash to %016llx (corrupt)", path,
                (unsigned long long)sum, (unsigned long long)got);
        goto fail;
    }
    R r = {h + CKPT_HEADER, h + k->map_len, path, "", e, 0};
    if (get_run(&r, k) || get_progress(&r, &k->progress)) goto fail;
    k->state = r.p;
    k->state_len = (size_t)(r.end - r.p);
    return 0;
fail:
    ckpt_close(k);
    return -1;
}

int ckpt_restore(const Ckpt *k, const CkptState *s, Err *e) {
    R r = {k->state, k->state + k->state_len, k->path, "state", e, 0};
    Model *m = s->model;
    if (get64(&r) != m->nparams) return bad_value(&r, "dense parameter count (not this model's)");
    const void *q = take(&r, m->nparams * sizeof(float));
    if (q) memcpy(m->params, q, m->nparams * sizeof(float));
    const uint32_t dn = get32(&r);
    if (!r.bad && (s->weights_only ? dn > 2 : dn != (uint32_t)((s->dense_v != NULL) + (s->dense_m != NULL))))
        return bad_value(&r, "dense optimizer state (another optimizer's)");
    float *dst[2] = {s->dense_v, s->dense_m};
    for (uint32_t i = 0; i < dn && !r.bad; i++)
        if ((q = take(&r, m->nparams * sizeof(float))) && !s->weights_only)
            memcpy(dst[i], q, m->nparams * sizeof(float));
    Emb *emb = s->emb;
    if (!r.bad && get32(&r) != (uint32_t)emb->fields) return bad_value(&r, "field count");
    for (int f = 0; f < emb->fields && !r.bad; f++) {
        EmbField *fl = &emb->f[f];
        if (get32(&r) != (uint32_t)fl->ntables && !r.bad) return bad_value(&r, "table count (another layout)");
        for (int t = 0; t < fl->ntables && !r.bad; t++) {
            EmbTable *tb = &fl->tables[t];
            const uint64_t rows = get64(&r);
            const uint32_t width = get32(&r), ns = get32(&r);
            if (r.bad) break;
            if (rows != tb->rows || width != (uint32_t)tb->width)
                return bad_value(&r, "table shape (another layout)");
            if (s->weights_only ? ns > 2 : ns != (uint32_t)((tb->v != NULL) + (tb->m != NULL)))
                return bad_value(&r, "table optimizer state (another optimizer's)");
            const size_t n = (size_t)tb->rows * (size_t)tb->width * sizeof(float);
            float *to[3] = {tb->w, tb->v ? tb->v : tb->m, tb->m};
            for (uint32_t i = 0; i <= ns && !r.bad; i++)
                if ((q = take(&r, n)) && (i == 0 || !s->weights_only)) memcpy(to[i], q, n);
        }
    }
    if (!r.bad && r.p != r.end) return bad_value(&r, "length (bytes left over after the last table)");
    return r.bad ? -1 : 0;
}

void ckpt_close(Ckpt *k) {
    if (k->map) munmap(k->map, k->map_len);
    free(k->run.cards);
    free(k->counts_v);
    free(k->progress.curve);
    memset(k, 0, sizeof *k);
}
