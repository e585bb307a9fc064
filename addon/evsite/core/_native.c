/* Compiled inner loops of the allocator (evsite.core.native).
 *
 * Each function here is a line-for-line port of a pure-Python reference in
 * evsite/core (named in its docstring): the same floating-point operations in
 * the same order, so the results are bit-identical (tests/core/test_native.py
 * compares the two on random inputs). The Python versions stay the
 * specification and the fallback where no C compiler was available.
 *
 * No I/O. The only module state is interned names, the ConnectorLimit class
 * checked for direct construction, and a flag the admission sort's comparator
 * sets on error (every call runs holding the GIL). Frozen value objects are
 * read through their slots when their class passes the checks in
 * slots_learn(); any other object through getattr.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <datetime.h>
#include <stdlib.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define EPS 1e-9
#define CAPPED (-1)
#define ST_WAIT 1
#define ST_ACTIVE 2
#define ST_FROZEN 3
#define EV_ACTIVATE 0
#define EV_CAP 1
#define EV_SATURATE 2

/* ---- a binary min-heap of (t, kind, idx), ordered like Python tuples ------ */

typedef struct {
    double t;
    int kind;
    Py_ssize_t idx;
} Event;

typedef struct {
    Event *items;
    Py_ssize_t len, size;
} Heap;

static inline int
ev_less(const Event *a, const Event *b)
{
    if (a->t != b->t) return a->t < b->t;
    if (a->kind != b->kind) return a->kind < b->kind;
    return a->idx < b->idx;
}

static int
heap_push(Heap *h, double t, int kind, Py_ssize_t idx)
{
    if (h->len == h->size) {
        Py_ssize_t size = h->size ? h->size * 2 : 64;
        Event *items = PyMem_Realloc(h->items, (size_t)size * sizeof(Event));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        h->items = items;
        h->size = size;
    }
    Event ev = {t, kind, idx};
    Py_ssize_t pos = h->len++;
    while (pos > 0) {
        Py_ssize_t parent = (pos - 1) >> 1;
        if (!ev_less(&ev, &h->items[parent])) break;
        h->items[pos] = h->items[parent];
        pos = parent;
    }
    h->items[pos] = ev;
    return 0;
}

static Event
heap_pop(Heap *h)
{
    Event top = h->items[0];
    Event last = h->items[--h->len];
    Py_ssize_t pos = 0, n = h->len;
    for (;;) {
        Py_ssize_t child = 2 * pos + 1;
        if (child >= n) break;
        if (child + 1 < n && ev_less(&h->items[child + 1], &h->items[child])) child++;
        if (!ev_less(&h->items[child], &last)) break;
        h->items[pos] = h->items[child];
        pos = child;
    }
    if (n > 0) h->items[pos] = last;
    return top;
}

/* ---- reading Python sequences into C arrays ----------------------------- */

static double *
read_doubles(PyObject *seq, Py_ssize_t n, const char *name)
{
    PyObject *fast = PySequence_Fast(seq, name);
    if (fast == NULL) return NULL;
    if (PySequence_Fast_GET_SIZE(fast) < n) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items", name, n);
        Py_DECREF(fast);
        return NULL;
    }
    double *out = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(double));
    if (out == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    PyObject **items = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; i < n; i++) {
        double v = PyFloat_AsDouble(items[i]);
        if (v == -1.0 && PyErr_Occurred()) {
            PyMem_Free(out);
            Py_DECREF(fast);
            return NULL;
        }
        out[i] = v;
    }
    Py_DECREF(fast);
    return out;
}

/* MurmurHash3's 64-bit finaliser: every input bit reaches the low bits the
 * table masks with (doubles such as 16.0 have all-zero low bits). */
static inline uint64_t
fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* A pointer-keyed open-addressing map (object identity -> small int). */
typedef struct {
    PyObject **keys;
    Py_ssize_t *vals;
    size_t mask;
} IdMap;

static int
idmap_init(IdMap *m, Py_ssize_t n)
{
    size_t size = 16;
    while (size < (size_t)n * 2) size <<= 1;
    m->keys = PyMem_Calloc(size, sizeof(PyObject *));
    m->vals = PyMem_Malloc(size * sizeof(Py_ssize_t));
    m->mask = size - 1;
    if (m->keys == NULL || m->vals == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void
idmap_free(IdMap *m)
{
    PyMem_Free(m->keys);
    PyMem_Free(m->vals);
}

/* The slot of ``key``: its value if present (*found = 1), else where to put it. */
static size_t
idmap_slot(const IdMap *m, PyObject *key, int *found)
{
    size_t i = (size_t)fmix64((uint64_t)(uintptr_t)key) & m->mask;
    while (m->keys[i] != NULL) {
        if (m->keys[i] == key) {
            *found = 1;
            return i;
        }
        i = (i + 1) & m->mask;
    }
    *found = 0;
    return i;
}

/* ---- water-filling (evsite.core.waterfill.fill_into) --------------------- */

typedef struct {
    Py_ssize_t n, n_res;
    const double *weights, *floors, *uppers, *counts;
    double *room, *rates, *cap, *load_w;
    long *binding;
    char *state, *saturated;
    Py_ssize_t *group;
    /* groups: resources (CSR), members by cap level (CSR), pointer, weight */
    Py_ssize_t n_groups;
    Py_ssize_t *g_res_start, *g_res;
    Py_ssize_t *g_mem_start, *g_mem;
    Py_ssize_t *g_ptr;
    double *g_w;
    char *g_done;
    /* groups per resource (CSR, in group order, repeats kept) */
    Py_ssize_t *u_start, *users;
    Heap heap;
} Run;

static int
run_cap_group(Run *run, double t, Py_ssize_t g)
{
    if (run->g_done[g]) return 0;
    Py_ssize_t *members = run->g_mem + run->g_mem_start[g];
    Py_ssize_t n = run->g_mem_start[g + 1] - run->g_mem_start[g];
    Py_ssize_t ptr = run->g_ptr[g];
    double dw = 0.0, du = 0.0;
    while (ptr < n && run->cap[members[ptr]] <= t) {
        Py_ssize_t i = members[ptr++];
        char st = run->state[i];
        if (st == ST_ACTIVE) {
            dw += run->weights[i] * run->counts[i];
            du += run->uppers[i] * run->counts[i];
            run->rates[i] = run->uppers[i];
            run->binding[i] = CAPPED;
        }
        else if (st == ST_WAIT) {
            run->rates[i] = run->floors[i];
            run->binding[i] = CAPPED;
        }
        run->state[i] = ST_FROZEN;
    }
    run->g_ptr[g] = ptr;
    if (dw != 0.0) {
        for (Py_ssize_t k = run->g_res_start[g]; k < run->g_res_start[g + 1]; k++) {
            Py_ssize_t r = run->g_res[k];
            run->room[r] -= du;
            run->load_w[r] -= dw;
        }
        run->g_w[g] -= dw;
    }
    if (ptr < n) return heap_push(&run->heap, run->cap[members[ptr]], EV_CAP, g);
    return 0;
}

static int
run_saturate(Run *run, double t, Py_ssize_t r_sat, double level)
{
    double *room = run->room, *load_w = run->load_w;
    if (run->saturated[r_sat] || load_w[r_sat] <= EPS) return 0;
    double now_t = room[r_sat] / load_w[r_sat];
    if (now_t > t + EPS * (1.0 + t)) return heap_push(&run->heap, now_t, EV_SATURATE, r_sat);
    run->saturated[r_sat] = 1;
    for (Py_ssize_t u = run->u_start[r_sat]; u < run->u_start[r_sat + 1]; u++) {
        Py_ssize_t g = run->users[u];
        if (run->g_done[g]) continue;
        run->g_done[g] = 1;
        double taken = 0.0;
        Py_ssize_t *members = run->g_mem + run->g_mem_start[g];
        Py_ssize_t n = run->g_mem_start[g + 1] - run->g_mem_start[g];
        for (Py_ssize_t k = run->g_ptr[g]; k < n; k++) {
            Py_ssize_t i = members[k];
            char st = run->state[i];
            double rate;
            if (st == ST_ACTIVE) {
                rate = run->weights[i] * level;
                taken += rate * run->counts[i];
            }
            else if (st == ST_WAIT) {
                rate = run->floors[i];
            }
            else {
                continue;
            }
            run->rates[i] = rate;
            run->binding[i] = (long)r_sat;
            run->state[i] = ST_FROZEN;
        }
        double w = run->g_w[g];
        for (Py_ssize_t k = run->g_res_start[g]; k < run->g_res_start[g + 1]; k++) {
            Py_ssize_t r = run->g_res[k];
            room[r] -= taken;
            load_w[r] -= w;
        }
        run->g_w[g] = 0.0;
    }
    return 0;
}

/* Scratch of run_activate: groups gained (first-gain order) and resources touched. */
typedef struct {
    Py_ssize_t *order;
    double *w, *f;
    Py_ssize_t *mark;
    Py_ssize_t *touched;
    Py_ssize_t *r_mark;
    Py_ssize_t stamp;
} Gain;

static int
run_activate(Run *run, Gain *gain, double t, Py_ssize_t idx, double level)
{
    Py_ssize_t n_gained = 0, stamp = ++gain->stamp;
    for (;;) {
        if (run->state[idx] == ST_WAIT) {
            run->state[idx] = ST_ACTIVE;
            Py_ssize_t g = run->group[idx];
            if (gain->mark[g] != stamp) {
                gain->mark[g] = stamp;
                gain->w[g] = 0.0;
                gain->f[g] = 0.0;
                gain->order[n_gained++] = g;
            }
            double m = run->counts[idx];
            gain->w[g] = gain->w[g] + run->weights[idx] * m;
            gain->f[g] = gain->f[g] + run->floors[idx] * m;
        }
        Heap *h = &run->heap;
        if (h->len == 0 || h->items[0].t != t || h->items[0].kind != EV_ACTIVATE) break;
        idx = heap_pop(h).idx;
    }
    Py_ssize_t n_touched = 0;
    for (Py_ssize_t k = 0; k < n_gained; k++) {
        Py_ssize_t g = gain->order[k];
        double w = gain->w[g], f = gain->f[g];
        run->g_w[g] += w;
        for (Py_ssize_t q = run->g_res_start[g]; q < run->g_res_start[g + 1]; q++) {
            Py_ssize_t r = run->g_res[q];
            run->room[r] += f;
            run->load_w[r] += w;
            if (gain->r_mark[r] != stamp) {
                gain->r_mark[r] = stamp;
                gain->touched[n_touched++] = r;
            }
        }
    }
    for (Py_ssize_t k = 0; k < n_touched; k++) {
        Py_ssize_t r = gain->touched[k];
        if (run->saturated[r]) continue;
        double at = run->room[r] / run->load_w[r];
        if (heap_push(&run->heap, at > level ? at : level, EV_SATURATE, r) < 0) return -1;
    }
    return 0;
}

typedef struct {
    Py_ssize_t i;
    double cap;
    Py_ssize_t pos;
} SortItem;

static int
sort_item_cmp(const void *a, const void *b)
{
    const SortItem *x = a, *y = b;
    if (x->cap != y->cap) return x->cap < y->cap ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos); /* stable, like sorted() */
}

/* One fill's inputs as C arrays; ``res`` are the resource sequences (flows
 * whose sequence is the same object form a group, as in the Python engine). */
typedef struct {
    Py_ssize_t n, n_res;
    PyObject **res;
    const double *weights, *floors, *uppers, *counts;
    double *room;     /* in/out */
    double *rates;    /* out: the members' entries */
    long *binding;    /* out: the members' entries */
} FillArgs;

/* evsite.core.waterfill.fill_into over C arrays (0, or -1 with an exception). */
static int
fill_core(const FillArgs *a, const Py_ssize_t *m_idx, Py_ssize_t n_members,
          int floors_taken)
{
    if (n_members == 0) return 0;
    Py_ssize_t n = a->n, n_res = a->n_res;
    Run run;
    memset(&run, 0, sizeof run);
    Gain gain;
    memset(&gain, 0, sizeof gain);
    IdMap ids = {NULL, NULL, 0};
    SortItem *sorted = NULL;
    PyObject **g_obj = NULL;
    Py_ssize_t *g_count = NULL;
    double *shift = NULL;
    int rc = -1;

    run.n = n;
    run.n_res = n_res;
    run.weights = a->weights;
    run.floors = a->floors;
    run.uppers = a->uppers;
    run.counts = a->counts;
    run.room = a->room;
    run.rates = a->rates;
    run.binding = a->binding;
    run.cap = PyMem_Malloc((size_t)n * sizeof(double));
    run.state = PyMem_Calloc((size_t)n, 1);
    run.group = PyMem_Calloc((size_t)n, sizeof(Py_ssize_t));
    run.load_w = PyMem_Calloc((size_t)(n_res ? n_res : 1), sizeof(double));
    run.saturated = PyMem_Calloc((size_t)(n_res ? n_res : 1), 1);
    sorted = PyMem_Malloc((size_t)n_members * sizeof(SortItem));
    if (!run.cap || !run.state || !run.group || !run.load_w
        || !run.saturated || !sorted) {
        PyErr_NoMemory();
        goto done;
    }

    /* setup: the level starts where the lowest floor is reached */
    double start = 0.0;
    for (Py_ssize_t k = 0; k < n_members; k++) {
        Py_ssize_t i = m_idx[k];
        run.cap[i] = run.uppers[i] / run.weights[i];
        double s = run.floors[i] / run.weights[i];
        if (k == 0 || s < start) start = s;
        sorted[k].i = i;
        sorted[k].cap = run.cap[i];
        sorted[k].pos = k;
    }
    qsort(sorted, (size_t)n_members, sizeof(SortItem), sort_item_cmp);

    /* groups: flows whose resources are the same object */
    if (idmap_init(&ids, n_members) < 0) goto done;
    g_count = PyMem_Calloc((size_t)n_members + 1, sizeof(Py_ssize_t));
    g_obj = PyMem_Malloc((size_t)n_members * sizeof(PyObject *));
    run.g_mem_start = PyMem_Calloc((size_t)n_members + 1, sizeof(Py_ssize_t));
    run.g_mem = PyMem_Malloc((size_t)n_members * sizeof(Py_ssize_t));
    if (!g_count || !g_obj || !run.g_mem_start || !run.g_mem) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n_groups = 0;
    for (Py_ssize_t k = 0; k < n_members; k++) {
        Py_ssize_t i = sorted[k].i;
        PyObject *res = a->res[i];
        int found;
        size_t slot = idmap_slot(&ids, res, &found);
        Py_ssize_t g;
        if (found) {
            g = ids.vals[slot];
        }
        else {
            g = n_groups++;
            ids.keys[slot] = res;
            ids.vals[slot] = g;
            g_obj[g] = res;
        }
        run.group[i] = g;
        g_count[g]++;
    }
    run.n_groups = n_groups;
    for (Py_ssize_t g = 0; g < n_groups; g++)
        run.g_mem_start[g + 1] = run.g_mem_start[g] + g_count[g];
    for (Py_ssize_t g = 0; g < n_groups; g++) g_count[g] = 0;
    for (Py_ssize_t k = 0; k < n_members; k++) {
        Py_ssize_t i = sorted[k].i, g = run.group[i];
        run.g_mem[run.g_mem_start[g] + g_count[g]++] = i;
    }

    /* each group's resources, flattened */
    run.g_res_start = PyMem_Calloc((size_t)n_groups + 1, sizeof(Py_ssize_t));
    if (run.g_res_start == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        Py_ssize_t len = PySequence_Size(g_obj[g]);
        if (len < 0) goto done;
        total += len;
        run.g_res_start[g + 1] = total;
    }
    run.g_res = PyMem_Malloc((size_t)(total ? total : 1) * sizeof(Py_ssize_t));
    run.u_start = PyMem_Calloc((size_t)n_res + 2, sizeof(Py_ssize_t));
    run.users = PyMem_Malloc((size_t)(total ? total : 1) * sizeof(Py_ssize_t));
    if (!run.g_res || !run.u_start || !run.users) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        PyObject *fast = PySequence_Fast(g_obj[g], "resources");
        if (fast == NULL) goto done;
        PyObject **items = PySequence_Fast_ITEMS(fast);
        Py_ssize_t base = run.g_res_start[g];
        for (Py_ssize_t q = 0; q < PySequence_Fast_GET_SIZE(fast); q++) {
            Py_ssize_t r = PyLong_AsSsize_t(items[q]);
            if (r == -1 && PyErr_Occurred()) {
                Py_DECREF(fast);
                goto done;
            }
            if (r < 0 || r >= n_res) {
                PyErr_Format(PyExc_IndexError, "resource %zd out of range", r);
                Py_DECREF(fast);
                goto done;
            }
            run.g_res[base + q] = r;
            run.u_start[r + 2]++;
        }
        Py_DECREF(fast);
    }
    /* users per resource, groups in ascending order (repeats kept) */
    for (Py_ssize_t r = 0; r < n_res; r++) run.u_start[r + 2] += run.u_start[r + 1];
    for (Py_ssize_t g = 0; g < n_groups; g++)
        for (Py_ssize_t q = run.g_res_start[g]; q < run.g_res_start[g + 1]; q++)
            run.users[run.u_start[run.g_res[q] + 1]++] = g;

    run.g_ptr = PyMem_Calloc((size_t)n_groups, sizeof(Py_ssize_t));
    run.g_w = PyMem_Calloc((size_t)n_groups, sizeof(double));
    run.g_done = PyMem_Calloc((size_t)n_groups, 1);
    shift = PyMem_Calloc((size_t)n_groups, sizeof(double));
    gain.order = PyMem_Malloc((size_t)n_groups * sizeof(Py_ssize_t));
    gain.w = PyMem_Malloc((size_t)n_groups * sizeof(double));
    gain.f = PyMem_Malloc((size_t)n_groups * sizeof(double));
    gain.mark = PyMem_Calloc((size_t)n_groups, sizeof(Py_ssize_t));
    gain.touched = PyMem_Malloc((size_t)(n_res ? n_res : 1) * sizeof(Py_ssize_t));
    gain.r_mark = PyMem_Calloc((size_t)(n_res ? n_res : 1), sizeof(Py_ssize_t));
    if (!run.g_ptr || !run.g_w || !run.g_done || !shift || !gain.order || !gain.w
        || !gain.f || !gain.mark || !gain.touched || !gain.r_mark) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < n_members; k++) {
        Py_ssize_t i = sorted[k].i, g = run.group[i];
        double w = run.weights[i];
        if (run.floors[i] > (start + EPS) * w) { /* waits at its floor */
            run.state[i] = ST_WAIT;
            if (!floors_taken) shift[g] -= run.floors[i] * run.counts[i];
            if (heap_push(&run.heap, run.floors[i] / w, EV_ACTIVATE, i) < 0) goto done;
        }
        else {
            run.state[i] = ST_ACTIVE;
            run.g_w[g] += w * run.counts[i];
            if (floors_taken) shift[g] += run.floors[i] * run.counts[i];
        }
    }
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        if (heap_push(&run.heap, run.cap[run.g_mem[run.g_mem_start[g]]], EV_CAP, g) < 0)
            goto done;
    }
    for (Py_ssize_t g = 0; g < n_groups; g++) { /* _load */
        double w = run.g_w[g], delta = shift[g];
        for (Py_ssize_t q = run.g_res_start[g]; q < run.g_res_start[g + 1]; q++) {
            Py_ssize_t r = run.g_res[q];
            run.load_w[r] += w;
            run.room[r] += delta;
        }
    }
    for (Py_ssize_t r = 0; r < n_res; r++) {
        if (run.u_start[r + 1] > run.u_start[r] && run.load_w[r] > 0) {
            if (heap_push(&run.heap, run.room[r] / run.load_w[r], EV_SATURATE, r) < 0)
                goto done;
        }
    }

    /* loop: events in level order until every member is frozen */
    double level = 0.0;
    while (run.heap.len) {
        Event ev = heap_pop(&run.heap);
        if (ev.t > level) level = ev.t;
        int ok;
        if (ev.kind == EV_SATURATE) ok = run_saturate(&run, ev.t, ev.idx, level);
        else if (ev.kind == EV_CAP) ok = run_cap_group(&run, ev.t, ev.idx);
        else ok = run_activate(&run, &gain, ev.t, ev.idx, level);
        if (ok < 0) goto done;
    }
    rc = 0;

done:
    PyMem_Free(run.cap);
    PyMem_Free(run.state);
    PyMem_Free(run.group);
    PyMem_Free(run.load_w);
    PyMem_Free(run.saturated);
    PyMem_Free(run.g_res_start);
    PyMem_Free(run.g_res);
    PyMem_Free(run.g_mem_start);
    PyMem_Free(run.g_mem);
    PyMem_Free(run.g_ptr);
    PyMem_Free(run.g_w);
    PyMem_Free(run.g_done);
    PyMem_Free(run.u_start);
    PyMem_Free(run.users);
    PyMem_Free(run.heap.items);
    PyMem_Free(gain.order);
    PyMem_Free(gain.w);
    PyMem_Free(gain.f);
    PyMem_Free(gain.mark);
    PyMem_Free(gain.touched);
    PyMem_Free(gain.r_mark);
    if (ids.keys != NULL || ids.vals != NULL) idmap_free(&ids);
    PyMem_Free(sorted);
    PyMem_Free(g_obj);
    PyMem_Free(g_count);
    PyMem_Free(shift);
    return rc;
}

/* ``dict[key] = value``, taking over the new reference ``value`` (NULL: -1). */
static int
dict_put(PyObject *dict, PyObject *key, PyObject *value)
{
    if (value == NULL) return -1;
    int rc = PyDict_SetItem(dict, key, value);
    Py_DECREF(value);
    return rc;
}

/* Store ``value`` (a new reference) at ``list[i]``; -1 if value is NULL. */
static int
list_put(PyObject *list, Py_ssize_t i, PyObject *value)
{
    if (value == NULL) return -1;
    PyObject *old = PyList_GET_ITEM(list, i);
    PyList_SET_ITEM(list, i, value);
    Py_DECREF(old);
    return 0;
}

PyDoc_STRVAR(fill_into_doc,
"fill_into(members, resources, weights, floors, uppers, counts, room, rates,\n"
"          binding, floors_taken)\n"
"--\n\n"
"Compiled evsite.core.waterfill.fill_into: water-fill ``members`` into\n"
"``room``; writes each member's rate and binding and updates ``room`` in place.");

static PyObject *
fill_into(PyObject *self, PyObject *args)
{
    PyObject *members_o, *resources_o, *weights_o, *floors_o, *uppers_o, *counts_o;
    PyObject *room_o, *rates_o, *binding_o;
    int floors_taken;
    if (!PyArg_ParseTuple(args, "OOOOOOO!O!O!p", &members_o, &resources_o, &weights_o,
                          &floors_o, &uppers_o, &counts_o, &PyList_Type, &room_o,
                          &PyList_Type, &rates_o, &PyList_Type, &binding_o,
                          &floors_taken))
        return NULL;
    PyObject *members_f = NULL, *resources_f = NULL, *result = NULL;
    FillArgs a;
    memset(&a, 0, sizeof a);
    Py_ssize_t *m_idx = NULL;
    double *counts = NULL;

    members_f = PySequence_Fast(members_o, "members");
    if (members_f == NULL) goto done;
    Py_ssize_t n_members = PySequence_Fast_GET_SIZE(members_f);
    if (n_members == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    resources_f = PySequence_Fast(resources_o, "resources");
    if (resources_f == NULL) goto done;
    Py_ssize_t n = PySequence_Size(weights_o);
    if (n < 0) goto done;
    a.n = n;
    a.n_res = PyList_GET_SIZE(room_o);
    if (PySequence_Fast_GET_SIZE(resources_f) < n || PyList_GET_SIZE(rates_o) < n
        || PyList_GET_SIZE(binding_o) < n) {
        PyErr_SetString(PyExc_ValueError, "flow columns are shorter than weights");
        goto done;
    }
    a.res = PySequence_Fast_ITEMS(resources_f);
    a.weights = read_doubles(weights_o, n, "weights");
    if (a.weights == NULL) goto done;
    a.floors = read_doubles(floors_o, n, "floors");
    if (a.floors == NULL) goto done;
    a.uppers = read_doubles(uppers_o, n, "uppers");
    if (a.uppers == NULL) goto done;
    Py_ssize_t n_counts = PySequence_Size(counts_o);
    if (n_counts < 0) goto done;
    if (n_counts == 0) {
        counts = PyMem_Malloc((size_t)n * sizeof(double));
        if (counts == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < n; i++) counts[i] = 1.0;
    }
    else {
        counts = read_doubles(counts_o, n, "counts");
        if (counts == NULL) goto done;
    }
    a.counts = counts;
    a.room = read_doubles(room_o, a.n_res, "room");
    if (a.room == NULL) goto done;
    a.rates = PyMem_Calloc((size_t)n, sizeof(double));
    a.binding = PyMem_Calloc((size_t)n, sizeof(long));
    m_idx = PyMem_Malloc((size_t)n_members * sizeof(Py_ssize_t));
    if (!a.rates || !a.binding || !m_idx) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject **m_items = PySequence_Fast_ITEMS(members_f);
    for (Py_ssize_t k = 0; k < n_members; k++) {
        Py_ssize_t i = PyLong_AsSsize_t(m_items[k]);
        if (i == -1 && PyErr_Occurred()) goto done;
        if (i < 0 || i >= n) {
            PyErr_Format(PyExc_IndexError, "member %zd out of range", i);
            goto done;
        }
        m_idx[k] = i;
    }
    double *room_before = PyMem_Malloc((size_t)(a.n_res ? a.n_res : 1) * sizeof(double));
    if (room_before == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(room_before, a.room, (size_t)a.n_res * sizeof(double));
    if (fill_core(&a, m_idx, n_members, floors_taken) < 0) {
        PyMem_Free(room_before);
        goto done;
    }
    /* write back: every member's rate and binding, the room that changed */
    for (Py_ssize_t k = 0; k < n_members; k++) {
        Py_ssize_t i = m_idx[k];
        if (list_put(rates_o, i, PyFloat_FromDouble(a.rates[i])) < 0
            || list_put(binding_o, i, PyLong_FromLong(a.binding[i])) < 0) {
            PyMem_Free(room_before);
            goto done;
        }
    }
    for (Py_ssize_t r = 0; r < a.n_res; r++) {
        if (memcmp(&room_before[r], &a.room[r], sizeof(double)) == 0) continue;
        if (list_put(room_o, r, PyFloat_FromDouble(a.room[r])) < 0) {
            PyMem_Free(room_before);
            goto done;
        }
    }
    PyMem_Free(room_before);
    result = Py_NewRef(Py_None);

done:
    Py_XDECREF(members_f);
    Py_XDECREF(resources_f);
    PyMem_Free((void *)a.weights);
    PyMem_Free((void *)a.floors);
    PyMem_Free((void *)a.uppers);
    PyMem_Free(counts);
    PyMem_Free(a.room);
    PyMem_Free(a.rates);
    PyMem_Free(a.binding);
    PyMem_Free(m_idx);
    return result;
}


/* ---- classification (evsite.core.flowbuild.FlowBuilder.add_all) --------- */

/* Interned attribute and method names, made once at import. */
static PyObject *s_active, *s_access_closed, *s_delayed, *s_charge_now, *s_ev_max_a;
static PyObject *s_ev_phases, *s_weight, *s_priority, *s_online, *s_controllable;
static PyObject *s_maintenance, *s_offline_allocation_a, *s_reason, *s_limit_a;
static PyObject *s_panel_id, *s_phases, *s_stale_cap, *s_no_increase, *s_floor;
static PyObject *s_available_a, *s_measured_a, *s_stale, *s_shed, *s_capacity_a;
static PyObject *s_admitted_since, *s_paused_since, *s_energy_wh, *s_session_start;
static PyObject *one_obj, *zero_float;

/* ``mapping.get(key)`` as a new reference (NULL with no error: missing). */
static PyObject *
map_get(PyObject *mapping, PyObject *key)
{
    if (PyDict_CheckExact(mapping)) {
        PyObject *v = PyDict_GetItemWithError(mapping, key);
        Py_XINCREF(v);
        return v;
    }
    PyObject *v = PyObject_GetItem(mapping, key);
    if (v == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) PyErr_Clear();
    return v;
}

/* Truth of ``obj.name`` (-1 on error). */
static int
attr_true(PyObject *obj, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL) return -1;
    int t = PyObject_IsTrue(v);
    Py_DECREF(v);
    return t;
}

/* Reading fields of the frozen slot dataclasses (ConnectorDemand,
 * ConnectorLimit) straight from their slots. A slot is what ``getattr``
 * returns when the type uses the generic attribute lookup and the name
 * resolves to that slot's member descriptor; those conditions are checked
 * once per type, and an object of any other type goes through ``getattr``. */
#define MAX_FIELDS 8

typedef struct {
    PyTypeObject *type; /* NULL: not checked yet */
    int usable;
    int n;
    PyObject **names;
    Py_ssize_t offsets[MAX_FIELDS];
} Slots;

static void
slots_learn(Slots *sl, PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    sl->type = tp;
    sl->usable = 0;
    if (tp->tp_getattro != PyObject_GenericGetAttr) return;
    for (int k = 0; k < sl->n; k++) {
        PyObject *descr = _PyType_Lookup(tp, sl->names[k]); /* borrowed */
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) return;
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX) return;
        sl->offsets[k] = member->offset;
    }
    sl->usable = 1;
}

/* Field ``k`` of ``obj`` as a new reference (NULL with an exception). */
static inline PyObject *
slot_get(Slots *sl, PyObject *obj, int k)
{
    if (Py_TYPE(obj) != sl->type) slots_learn(sl, obj);
    if (sl->usable) {
        PyObject *v = *(PyObject **)((char *)obj + sl->offsets[k]);
        if (v != NULL) return Py_NewRef(v);
    }
    return PyObject_GetAttr(obj, sl->names[k]);
}

static inline int
slot_true(Slots *sl, PyObject *obj, int k)
{
    PyObject *v = slot_get(sl, obj, k);
    if (v == NULL) return -1;
    int t = v == Py_True ? 1 : v == Py_False ? 0 : PyObject_IsTrue(v);
    Py_DECREF(v);
    return t;
}

/* ConnectorDemand fields, in this order */
enum { D_ACTIVE, D_ACCESS_CLOSED, D_DELAYED, D_CHARGE_NOW, D_EV_MAX_A, D_EV_PHASES,
       D_WEIGHT, D_PRIORITY };
/* ConnectorLimit fields, in this order */
enum { L_LIMIT_A, L_REASON, L_PANEL_ID, L_PHASES };

static PyObject *demand_names[8], *limit_names[4];

/* Building ConnectorLimit values. ``new_limit`` is the class itself or a
 * function building it. For the class, when it is a plain slot class (generic
 * allocation, the six fields as object slots, nothing else to set up), the
 * value is made as allocation_model.new_limit makes it: allocated like
 * ``object.__new__`` does and the six slots filled; otherwise the class is
 * called. The checked class is kept (with a reference) for later calls. */
static PyTypeObject *limit_type;
static int limit_fast;
static Py_ssize_t limit_offsets[6];
static PyObject *limit_fields[6];

static void
limit_learn(PyTypeObject *tp)
{
    Py_XSETREF(limit_type, (PyTypeObject *)Py_NewRef(tp));
    limit_fast = 0;
    if (tp->tp_new != PyBaseObject_Type.tp_new || tp->tp_alloc != PyType_GenericAlloc
        || tp->tp_dictoffset != 0 || tp->tp_weaklistoffset != 0)
        return;
    for (int k = 0; k < 6; k++) {
        PyObject *descr = _PyType_Lookup(tp, limit_fields[k]); /* borrowed */
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) return;
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX || (member->flags & READONLY)) return;
        limit_offsets[k] = member->offset;
    }
    /* every object slot of the instance is one of the six */
    if (tp->tp_basicsize != (Py_ssize_t)(sizeof(PyObject) + 6 * sizeof(PyObject *))) return;
    limit_fast = 1;
}

static PyObject *
make_limit(PyObject *new_limit, PyObject *cid, PyObject *conn, PyObject *limit,
           PyObject *reason, PyObject *panel_id, PyObject *phases)
{
    if (PyType_Check(new_limit)) {
        PyTypeObject *tp = (PyTypeObject *)new_limit;
        if (tp != limit_type) limit_learn(tp);
        if (limit_fast) {
            PyObject *obj = tp->tp_alloc(tp, 0);
            if (obj == NULL) return NULL;
            PyObject *values[6] = {cid, conn, limit, reason, panel_id, phases};
            for (int k = 0; k < 6; k++)
                *(PyObject **)((char *)obj + limit_offsets[k]) = Py_NewRef(values[k]);
            return obj;
        }
    }
    return PyObject_CallFunctionObjArgs(new_limit, cid, conn, limit, reason, panel_id,
                                        phases, NULL);
}

/* FlowBuilder.limit_of: the previous ConnectorLimit of ``key`` when its limit,
 * reason, panel and phases are the same, else ``new_limit(...)`` (new ref). */
static PyObject *
limit_or_old(Slots *lsl, PyObject *before, PyObject *key, PyObject *limit,
             PyObject *reason, PyObject *panel_id, PyObject *phases, PyObject *new_limit)
{
    PyObject *old = map_get(before, key);
    if (old == NULL && PyErr_Occurred()) return NULL;
    if (old != NULL) {
        PyObject *v = slot_get(lsl, old, L_LIMIT_A);
        int same = v ? PyObject_RichCompareBool(v, limit, Py_EQ) : -1;
        Py_XDECREF(v);
        if (same > 0) {
            v = slot_get(lsl, old, L_REASON);
            same = v ? v == reason : -1;
            Py_XDECREF(v);
        }
        if (same > 0) {
            v = slot_get(lsl, old, L_PANEL_ID);
            same = v ? PyObject_RichCompareBool(v, panel_id, Py_EQ) : -1;
            Py_XDECREF(v);
        }
        if (same > 0) {
            v = slot_get(lsl, old, L_PHASES);
            same = v ? PyObject_RichCompareBool(v, phases, Py_EQ) : -1;
            Py_XDECREF(v);
        }
        if (same != 0) {
            if (same < 0) Py_CLEAR(old);
            return old;
        }
        Py_DECREF(old);
    }
    return make_limit(new_limit, PyTuple_GET_ITEM(key, 0), PyTuple_GET_ITEM(key, 1), limit,
                      reason, panel_id, phases);
}

/* What the rare rows of the classification touch on the builder. */
typedef struct {
    PyObject *fixed, *before, *new_limit, *reserved, *room, *paths, *offline;
    PyObject *res_reason, *charger_cap, *circuit_phases;
    Slots *lsl;
} Builder;

/* FlowBuilder._fix_all: every connector of the row at ``limit`` for ``reason``. */
static int
fix_all(Builder *b, PyObject *row, double limit, PyObject *reason)
{
    PyObject *ckeys = PyTuple_GET_ITEM(row, 1), *phases = PyTuple_GET_ITEM(row, 9);
    PyObject *limit_o = PyFloat_FromDouble(limit);
    if (limit_o == NULL) return -1;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(ckeys); k++) {
        PyObject *key = PyTuple_GET_ITEM(ckeys, k);
        if (!PyTuple_Check(key) || PyTuple_GET_SIZE(key) != 2) {
            PyErr_SetString(PyExc_TypeError, "a connector key must be a pair");
            Py_DECREF(limit_o);
            return -1;
        }
        PyObject *lim = limit_or_old(b->lsl, b->before, key, limit_o, reason, Py_None,
                                     phases, b->new_limit);
        int rc = lim == NULL ? -1 : PyDict_SetItem(b->fixed, key, lim);
        Py_XDECREF(lim);
        if (rc < 0) {
            Py_DECREF(limit_o);
            return -1;
        }
    }
    Py_DECREF(limit_o);
    return 0;
}

/* list[i] += delta, with Python float arithmetic. */
static int
list_add(PyObject *list, Py_ssize_t i, double delta)
{
    double v = PyFloat_AsDouble(PyList_GET_ITEM(list, i));
    if (v == -1.0 && PyErr_Occurred()) return -1;
    return list_put(list, i, PyFloat_FromDouble(v + delta));
}

/* FlowBuilder._reserve: ``amps`` per phase in every ancestor, then fixed. */
static int
reserve(Builder *b, PyObject *row, PyObject *amps_o, PyObject *reason)
{
    double amps = PyFloat_AsDouble(amps_o);
    if (amps == -1.0 && PyErr_Occurred()) return -1;
    Py_ssize_t path_id = PyLong_AsSsize_t(PyTuple_GET_ITEM(row, 7));
    if (path_id == -1 && PyErr_Occurred()) return -1;
    if (path_id < 0 || path_id >= PyTuple_GET_SIZE(b->paths)) {
        PyErr_Format(PyExc_IndexError, "path %zd out of range", path_id);
        return -1;
    }
    PyObject *path = PyTuple_GET_ITEM(b->paths, path_id);
    Py_ssize_t n_reserved = PyList_GET_SIZE(b->reserved);
    for (Py_ssize_t q = 0; q < PyTuple_GET_SIZE(path); q++) {
        Py_ssize_t r = PyLong_AsSsize_t(PyTuple_GET_ITEM(path, q));
        if (r == -1 && PyErr_Occurred()) return -1;
        if (r < 0 || r >= n_reserved || r >= PyList_GET_SIZE(b->room)) {
            PyErr_Format(PyExc_IndexError, "path resource %zd out of range", r);
            return -1;
        }
        if (list_add(b->reserved, r, amps) < 0 || list_add(b->room, r, -amps) < 0)
            return -1;
    }
    double limit = amps > 0 ? floor(amps * 10 + 1e-7) / 10 : 0.0; /* floor_step */
    return fix_all(b, row, limit, reason);
}

/* FlowBuilder._circuit: resources for a shared charger circuit; its first. */
static Py_ssize_t
add_circuit(Builder *b, PyObject *phases, PyObject *cap, PyObject *reason)
{
    Py_ssize_t first = PyList_GET_SIZE(b->room);
    PyObject *first_o = PyLong_FromSsize_t(first);
    if (first_o == NULL) return -1;
    int rc = PyDict_SetItem(b->circuit_phases, first_o, phases);
    Py_DECREF(first_o);
    if (rc < 0) return -1;
    for (Py_ssize_t q = 0; q < PyTuple_GET_SIZE(phases); q++) {
        PyObject *at = PyLong_FromSsize_t(PyList_GET_SIZE(b->room));
        if (at == NULL) return -1;
        rc = PyDict_SetItem(b->charger_cap, at, cap);
        Py_DECREF(at);
        if (rc < 0 || PyList_Append(b->room, cap) < 0) return -1;
        PyObject *pair = PyTuple_Pack(2, reason, Py_None);
        if (pair == NULL) return -1;
        rc = PyList_Append(b->res_reason, pair);
        Py_DECREF(pair);
        if (rc < 0) return -1;
    }
    return first;
}

/* One merged flow's key, compared like the Python tuple key (== per field). */
typedef struct {
    Py_ssize_t path, circuit;
    double weight, floor, upper;
    PyObject *reason; /* a Reason member: compared by identity */
    long long prio;
    Py_hash_t hash;
} FlowKey;

/* Flow keys by id (dense, in flow order) and an open-addressing index of
 * (hash, id) slots: probing touches 16 bytes a slot, growing copies no keys. */
typedef struct {
    uint64_t hash;
    Py_ssize_t fid; /* -1: empty */
} FlowSlot;

typedef struct {
    FlowKey *keys;
    Py_ssize_t len, cap;
    FlowSlot *slots;
    size_t mask;
} FlowMap;

static inline uint64_t
mix(uint64_t h, uint64_t v)
{
    return (h ^ fmix64(v)) * 0x100000001b3ULL;
}

static inline uint64_t
dbits(double d)
{
    uint64_t b;
    if (d == 0.0) d = 0.0; /* -0.0 == 0.0 */
    memcpy(&b, &d, sizeof b);
    return b;
}

static int
flowmap_slots(FlowMap *m, size_t size)
{
    FlowSlot *slots = PyMem_Malloc(size * sizeof(FlowSlot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < size; i++) slots[i].fid = -1;
    for (Py_ssize_t f = 0; f < m->len; f++) { /* rehash from the stored hashes */
        size_t j = (size_t)m->keys[f].hash & (size - 1);
        while (slots[j].fid >= 0) j = (j + 1) & (size - 1);
        slots[j].hash = (uint64_t)m->keys[f].hash;
        slots[j].fid = f;
    }
    PyMem_Free(m->slots);
    m->slots = slots;
    m->mask = size - 1;
    return 0;
}

static int
flowmap_init(FlowMap *m, Py_ssize_t n)
{
    size_t size = 64;
    while (size < (size_t)n * 2) size <<= 1;
    m->len = 0;
    m->cap = n > 16 ? n : 16;
    m->keys = PyMem_Malloc((size_t)m->cap * sizeof(FlowKey));
    if (m->keys == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return flowmap_slots(m, size);
}

/* The flow id of ``k``; a new key gets id ``len`` (-1 on memory error). */
static Py_ssize_t
flowmap_get_or_add(FlowMap *m, FlowKey *k, int *added)
{
    uint64_t h = 1469598103934665603ULL;
    h = mix(h, (uint64_t)k->path);
    h = mix(h, (uint64_t)k->circuit);
    h = mix(h, dbits(k->weight));
    h = mix(h, dbits(k->floor));
    h = mix(h, dbits(k->upper));
    h = mix(h, (uint64_t)(uintptr_t)k->reason);
    h = mix(h, (uint64_t)k->prio);
    h = fmix64(h);
    k->hash = (Py_hash_t)h;
    *added = 0;
    size_t i = (size_t)h & m->mask;
    while (m->slots[i].fid >= 0) {
        if (m->slots[i].hash == h) {
            FlowKey *o = &m->keys[m->slots[i].fid];
            if (o->path == k->path && o->circuit == k->circuit && o->weight == k->weight
                && o->floor == k->floor && o->upper == k->upper && o->reason == k->reason
                && o->prio == k->prio)
                return m->slots[i].fid;
        }
        i = (i + 1) & m->mask;
    }
    if (m->len == m->cap) {
        FlowKey *keys = PyMem_Realloc(m->keys, (size_t)m->cap * 2 * sizeof(FlowKey));
        if (keys == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        m->keys = keys;
        m->cap *= 2;
    }
    Py_ssize_t fid = m->len++;
    m->keys[fid] = *k;
    m->slots[i].hash = h;
    m->slots[i].fid = fid;
    *added = 1;
    if ((size_t)m->len * 2 > m->mask && flowmap_slots(m, (m->mask + 1) * 2) < 0) return -1;
    return fid;
}

static int
append_new(PyObject *list, PyObject *item)
{
    if (item == NULL) return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

PyDoc_STRVAR(classify_doc,
"classify(builder, rows, reasons, new_limit) -> columns\n"
"--\n\n"
"Compiled evsite.core.flowbuild.FlowBuilder.add_all: every connector of\n"
"``rows`` is fixed (into ``builder.fixed``) or counted into a merged flow\n"
"(``builder.flows.counts``, ``.keys``, ``.flow_of``). Returns the flow key\n"
"columns (path ids, circuits, weights, floors, uppers, upper reasons,\n"
"priorities), as ``zip(*builder._index)`` gives them on the Python path.\n"
"``reasons``: (NOT_CHARGING, SCOPE_CLOSED, DELAYED, CHARGER_MAX, EV_MAX,\n"
"OFFLINE_RESERVED, UNCONTROLLABLE, MAINTENANCE). Rows below a stale meter call\n"
"the builder's own _stale_cap, _no_increase and _floor, as the Python loop does.");

static PyObject *
classify(PyObject *self, PyObject *args)
{
    PyObject *builder, *rows, *reasons, *new_limit;
    if (!PyArg_ParseTuple(args, "OO!O!O", &builder, &PyTuple_Type, &rows, &PyTuple_Type,
                          &reasons, &new_limit))
        return NULL;
    if (PyTuple_GET_SIZE(reasons) != 8) {
        PyErr_SetString(PyExc_ValueError, "reasons: expected 8 Reason members");
        return NULL;
    }
    PyObject *r_not_charging = PyTuple_GET_ITEM(reasons, 0);
    PyObject *r_scope_closed = PyTuple_GET_ITEM(reasons, 1);
    PyObject *r_delayed = PyTuple_GET_ITEM(reasons, 2);
    PyObject *r_charger_max = PyTuple_GET_ITEM(reasons, 3);
    PyObject *r_ev_max = PyTuple_GET_ITEM(reasons, 4);
    PyObject *r_offline = PyTuple_GET_ITEM(reasons, 5);
    PyObject *r_uncontrollable = PyTuple_GET_ITEM(reasons, 6);
    PyObject *r_maintenance = PyTuple_GET_ITEM(reasons, 7);

    PyObject *snap = NULL, *states = NULL, *demands = NULL, *stale_panels = NULL;
    PyObject *before = NULL, *floors = NULL, *fixed = NULL, *flows = NULL;
    PyObject *counts = NULL, *keys = NULL, *flow_of = NULL;
    PyObject *cols[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    PyObject *result = NULL;
    FlowMap fmap = {NULL, 0, 0, NULL, 0};
    Slots dsl = {NULL, 0, 8, demand_names, {0}};
    Slots lsl = {NULL, 0, 4, limit_names, {0}};
    Builder bld;
    memset(&bld, 0, sizeof bld);
    PyObject *plan = NULL;
    /* Per flow: its count, kept in C and written once at the end. */
    Py_ssize_t *fcount = NULL, fcap = 0, n_flows = 0;
    PyObject **fid_obj = NULL; /* per flow: its id as an int object */

    snap = PyObject_GetAttrString(builder, "snap");
    if (snap == NULL) goto done;
    states = PyObject_GetAttrString(snap, "chargers");
    demands = PyObject_GetAttrString(snap, "demands");
    stale_panels = PyObject_GetAttrString(builder, "stale_panels");
    before = PyObject_GetAttrString(builder, "before");
    floors = PyObject_GetAttrString(builder, "_floors");
    fixed = PyObject_GetAttrString(builder, "fixed");
    flows = PyObject_GetAttrString(builder, "flows");
    if (!states || !demands || !stale_panels || !before || !floors || !fixed || !flows)
        goto done;
    plan = PyObject_GetAttrString(builder, "plan");
    bld.paths = plan ? PyObject_GetAttrString(plan, "paths") : NULL;
    bld.offline = PyObject_GetAttrString(snap, "offline_allocations");
    bld.reserved = PyObject_GetAttrString(builder, "reserved");
    bld.room = PyObject_GetAttrString(builder, "room");
    bld.res_reason = PyObject_GetAttrString(builder, "res_reason");
    bld.charger_cap = PyObject_GetAttrString(builder, "charger_cap");
    bld.circuit_phases = PyObject_GetAttrString(builder, "_circuit_phases");
    if (!bld.paths || !bld.offline || !bld.reserved || !bld.room || !bld.res_reason
        || !bld.charger_cap || !bld.circuit_phases)
        goto done;
    if (!PyTuple_Check(bld.paths) || !PyList_Check(bld.reserved) || !PyList_Check(bld.room)
        || !PyList_Check(bld.res_reason) || !PyDict_Check(bld.charger_cap)
        || !PyDict_Check(bld.circuit_phases)) {
        PyErr_SetString(PyExc_TypeError, "builder resources must be lists and dicts");
        goto done;
    }
    bld.fixed = fixed;
    bld.before = before;
    bld.new_limit = new_limit;
    bld.lsl = &lsl;
    counts = PyObject_GetAttrString(flows, "counts");
    keys = PyObject_GetAttrString(flows, "keys");
    flow_of = PyObject_GetAttrString(flows, "flow_of");
    if (!counts || !keys || !flow_of) goto done;
    if (!PyDict_Check(fixed) || !PyList_Check(counts) || !PyList_Check(keys)
        || !PyList_Check(flow_of) || !PyDict_Check(floors)) {
        PyErr_SetString(PyExc_TypeError, "builder columns must be lists and dicts");
        goto done;
    }
    if (PyList_GET_SIZE(counts) != 0) {
        PyErr_SetString(PyExc_ValueError, "classify runs once per builder");
        goto done;
    }
    for (int c = 0; c < 7; c++) {
        cols[c] = PyList_New(0);
        if (cols[c] == NULL) goto done;
    }
    int has_states = PyObject_IsTrue(states);
    int has_stale = PyObject_IsTrue(stale_panels);
    if (has_states < 0 || has_stale < 0) goto done;
    if (flowmap_init(&fmap, 1024) < 0) goto done;

    Py_ssize_t n_rows = PyTuple_GET_SIZE(rows);
    for (Py_ssize_t ri = 0; ri < n_rows; ri++) {
        PyObject *row = PyTuple_GET_ITEM(rows, ri);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 11) {
            PyErr_SetString(PyExc_TypeError, "a charger row must be an 11-tuple");
            goto done;
        }
        PyObject *ckeys = PyTuple_GET_ITEM(row, 1);
        PyObject *cap_o = PyTuple_GET_ITEM(row, 2);
        PyObject *min_a = PyTuple_GET_ITEM(row, 3);
        PyObject *c_weight = PyTuple_GET_ITEM(row, 4);
        PyObject *c_prio = PyTuple_GET_ITEM(row, 5);
        PyObject *parent = PyTuple_GET_ITEM(row, 6);
        PyObject *path = PyTuple_GET_ITEM(row, 7);
        PyObject *one_path = PyTuple_GET_ITEM(row, 8);
        PyObject *phases = PyTuple_GET_ITEM(row, 9);
        PyObject *one_ph = PyTuple_GET_ITEM(row, 10);
        if (!PyTuple_Check(ckeys)) {
            PyErr_SetString(PyExc_TypeError, "a charger row's keys must be a tuple");
            goto done;
        }
        PyObject *offline_in_force = Py_None; /* borrowed from state (kept alive) */
        PyObject *state = NULL;
        if (has_states) {
            state = map_get(states, PyTuple_GET_ITEM(row, 0));
            if (state == NULL && PyErr_Occurred()) goto done;
        }
        PyObject *offline_ref = NULL;
        if (state != NULL) {
            int online = attr_true(state, s_online);
            int controllable = online < 0 ? -1 : attr_true(state, s_controllable);
            int maintenance = controllable < 0 ? -1 : attr_true(state, s_maintenance);
            if (maintenance < 0) { Py_DECREF(state); goto done; }
            if (!online || !controllable || maintenance) { /* _not_steered */
                int rc;
                if (!online) {
                    /* unknown offline allocation: it may draw its limit */
                    PyObject *amps = PyObject_GetAttr(state, s_offline_allocation_a);
                    if (amps == Py_None) {
                        Py_DECREF(amps);
                        amps = map_get(bld.offline, PyTuple_GET_ITEM(row, 0));
                        if (amps == NULL && !PyErr_Occurred())
                            amps = Py_NewRef(PyTuple_GET_ITEM(row, 2));
                    }
                    rc = amps == NULL ? -1 : reserve(&bld, row, amps, r_offline);
                    Py_XDECREF(amps);
                }
                else if (!controllable) {
                    rc = reserve(&bld, row, PyTuple_GET_ITEM(row, 2), r_uncontrollable);
                }
                else {
                    rc = fix_all(&bld, row, 0.0, r_maintenance);
                }
                Py_DECREF(state);
                if (rc < 0) goto done;
                continue;
            }
            offline_ref = PyObject_GetAttr(state, s_offline_allocation_a);
            Py_DECREF(state);
            if (offline_ref == NULL) goto done;
            offline_in_force = offline_ref;
        }
        /* cap and its reason: owned references from here on */
        PyObject *cap = cap_o, *cap_reason = r_charger_max;
        Py_INCREF(cap);
        Py_INCREF(cap_reason);
        Py_ssize_t circuit = 0;
        int stale = 0;
        if (has_stale) {
            stale = PySequence_Contains(stale_panels, parent);
            if (stale < 0) goto row_fail;
        }
        if (stale) {
            PyObject *pair = PyObject_CallMethodObjArgs(builder, s_stale_cap, row,
                                                        offline_in_force, NULL);
            if (pair == NULL) goto row_fail;
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                Py_DECREF(pair);
                PyErr_SetString(PyExc_TypeError, "_stale_cap must return a pair");
                goto row_fail;
            }
            Py_SETREF(cap, Py_NewRef(PyTuple_GET_ITEM(pair, 0)));
            Py_SETREF(cap_reason, Py_NewRef(PyTuple_GET_ITEM(pair, 1)));
            Py_DECREF(pair);
        }
        if (PyTuple_GET_SIZE(ckeys) > 1) {
            /* FlowBuilder._competing: how many of its connectors compete */
            long competing = 0;
            for (Py_ssize_t ki = 0; ki < PyTuple_GET_SIZE(ckeys); ki++) {
                PyObject *d = map_get(demands, PyTuple_GET_ITEM(ckeys, ki));
                if (d == NULL) {
                    if (PyErr_Occurred()) goto row_fail;
                    continue;
                }
                int active = slot_true(&dsl, d, D_ACTIVE);
                int closed = active > 0 ? slot_true(&dsl, d, D_ACCESS_CLOSED) : 0;
                int delayed = closed == 0 && active > 0 ? slot_true(&dsl, d, D_DELAYED) : 0;
                int now = delayed > 0 ? slot_true(&dsl, d, D_CHARGE_NOW) : 0;
                Py_DECREF(d);
                if (active < 0 || closed < 0 || delayed < 0 || now < 0) goto row_fail;
                if (active && !closed) competing += !delayed || now;
            }
            if (competing > 1) {
                if (!PyTuple_Check(phases)) {
                    PyErr_SetString(PyExc_TypeError, "a charger's phases must be a tuple");
                    goto row_fail;
                }
                circuit = add_circuit(&bld, phases, cap, cap_reason);
                if (circuit < 0) goto row_fail;
            }
        }
        double cap_d = PyFloat_AsDouble(cap);
        if (cap_d == -1.0 && PyErr_Occurred()) goto row_fail;

        for (Py_ssize_t ki = 0; ki < PyTuple_GET_SIZE(ckeys); ki++) {
            PyObject *key = PyTuple_GET_ITEM(ckeys, ki);
            if (!PyTuple_Check(key) || PyTuple_GET_SIZE(key) != 2) {
                PyErr_SetString(PyExc_TypeError, "a connector key must be a pair");
                goto row_fail;
            }
            PyObject *demand = map_get(demands, key);
            PyObject *reason = NULL; /* borrowed: a Reason member */
            if (demand == NULL) {
                if (PyErr_Occurred()) goto row_fail;
                reason = r_not_charging;
            }
            else {
                int t = slot_true(&dsl, demand, D_ACTIVE);
                if (t < 0) goto demand_fail;
                if (!t) {
                    reason = r_not_charging;
                }
                else if ((t = slot_true(&dsl, demand, D_ACCESS_CLOSED)) != 0) {
                    if (t < 0) goto demand_fail;
                    reason = r_scope_closed;
                }
                else if ((t = slot_true(&dsl, demand, D_DELAYED)) != 0) {
                    if (t < 0) goto demand_fail;
                    int now = slot_true(&dsl, demand, D_CHARGE_NOW);
                    if (now < 0) goto demand_fail;
                    if (!now) reason = r_delayed;
                }
            }
            if (reason == NULL) { /* competing: upper bound, then its flow */
                PyObject *upper_o = Py_NewRef(cap), *up_reason = cap_reason;
                double upper = cap_d;
                PyObject *ev_max = slot_get(&dsl, demand, D_EV_MAX_A);
                if (ev_max == NULL) { Py_DECREF(upper_o); goto demand_fail; }
                if (ev_max != Py_None) {
                    double ev = PyFloat_AsDouble(ev_max);
                    if (ev == -1.0 && PyErr_Occurred()) {
                        Py_DECREF(ev_max);
                        Py_DECREF(upper_o);
                        goto demand_fail;
                    }
                    int le = PyObject_RichCompareBool(ev_max, upper_o, Py_LE);
                    if (le < 0) { Py_DECREF(ev_max); Py_DECREF(upper_o); goto demand_fail; }
                    if (le) {
                        Py_SETREF(upper_o, Py_NewRef(ev_max));
                        upper = ev;
                        up_reason = r_ev_max;
                    }
                }
                Py_DECREF(ev_max);
                PyObject *held_reason = NULL; /* keeps a returned reason alive */
                if (stale) {
                    PyObject *pair = PyObject_CallMethodObjArgs(builder, s_no_increase, key,
                                                                upper_o, up_reason, NULL);
                    Py_DECREF(upper_o);
                    if (pair == NULL) goto demand_fail;
                    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                        Py_DECREF(pair);
                        PyErr_SetString(PyExc_TypeError, "_no_increase must return a pair");
                        goto demand_fail;
                    }
                    upper = PyFloat_AsDouble(PyTuple_GET_ITEM(pair, 0));
                    held_reason = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
                    up_reason = held_reason;
                    Py_DECREF(pair);
                    if (upper == -1.0 && PyErr_Occurred()) {
                        Py_DECREF(held_reason);
                        goto demand_fail;
                    }
                }
                else {
                    Py_DECREF(upper_o);
                }
                upper = floor(upper * 10 + 1e-7) / 10;
                PyObject *ev_phases = slot_get(&dsl, demand, D_EV_PHASES);
                int one = ev_phases == NULL ? -1
                                            : PyObject_RichCompareBool(ev_phases, one_obj, Py_EQ);
                Py_XDECREF(ev_phases);
                if (one < 0) { Py_XDECREF(held_reason); goto demand_fail; }
                PyObject *floor_o = PyDict_GetItemWithError(floors, min_a);
                int floor_true = 0;
                if (floor_o != NULL) {
                    floor_true = PyObject_IsTrue(floor_o);
                    if (floor_true < 0) { Py_XDECREF(held_reason); goto demand_fail; }
                }
                else if (PyErr_Occurred()) {
                    Py_XDECREF(held_reason);
                    goto demand_fail;
                }
                if (floor_true) {
                    Py_INCREF(floor_o);
                }
                else {
                    floor_o = PyObject_CallMethodObjArgs(builder, s_floor, min_a, NULL);
                    if (floor_o == NULL) { Py_XDECREF(held_reason); goto demand_fail; }
                }
                double floor_a = PyFloat_AsDouble(floor_o);
                if (floor_a == -1.0 && PyErr_Occurred()) {
                    Py_DECREF(floor_o);
                    Py_XDECREF(held_reason);
                    goto demand_fail;
                }
                if (upper < floor_a - EPS) {
                    PyObject *lim = limit_or_old(&lsl, before, key, zero_float, up_reason,
                                                 Py_None, one ? one_ph : phases, new_limit);
                    Py_DECREF(floor_o);
                    Py_XDECREF(held_reason);
                    if (lim == NULL) goto demand_fail;
                    int rc = PyDict_SetItem(fixed, key, lim);
                    Py_DECREF(lim);
                    Py_DECREF(demand);
                    if (rc < 0) goto row_fail;
                    continue;
                }
                PyObject *weight = slot_get(&dsl, demand, D_WEIGHT);
                PyObject *priority = weight == NULL ? NULL
                                                    : slot_get(&dsl, demand, D_PRIORITY);
                if (priority == NULL) {
                    Py_XDECREF(weight);
                    Py_DECREF(floor_o);
                    Py_XDECREF(held_reason);
                    goto demand_fail;
                }
                PyObject *w_obj = c_weight;
                if (weight != Py_None) {
                    int truth = PyObject_IsTrue(weight);
                    int pos = truth > 0 ? PyObject_RichCompareBool(weight, zero_float, Py_GT)
                                        : truth;
                    if (pos < 0) {
                        Py_DECREF(weight);
                        Py_DECREF(priority);
                        Py_DECREF(floor_o);
                        Py_XDECREF(held_reason);
                        goto demand_fail;
                    }
                    if (pos) w_obj = weight;
                }
                PyObject *p_obj = priority == Py_None ? c_prio : priority;
                PyObject *path_o = one ? one_path : path;
                FlowKey fk;
                fk.path = PyLong_AsSsize_t(path_o);
                fk.circuit = circuit;
                fk.weight = PyFloat_AsDouble(w_obj);
                fk.floor = floor_a;
                fk.upper = upper;
                fk.reason = up_reason;
                fk.prio = PyLong_AsLongLong(p_obj);
                if (PyErr_Occurred()) {
                    Py_DECREF(weight);
                    Py_DECREF(priority);
                    Py_DECREF(floor_o);
                    Py_XDECREF(held_reason);
                    goto demand_fail;
                }
                int added, rc = 0;
                Py_ssize_t fid = flowmap_get_or_add(&fmap, &fk, &added);
                if (fid < 0) rc = -1;
                else if (added) { /* a new flow: its key becomes the columns' row */
                    n_flows++; /* fid == n_flows - 1: the map numbers in order */
                    if (n_flows > fcap) {
                        Py_ssize_t size = fcap ? fcap * 2 : 256;
                        Py_ssize_t *grown = PyMem_Realloc(fcount, (size_t)size * sizeof(Py_ssize_t));
                        if (grown != NULL) fcount = grown;
                        PyObject **ids = grown ? PyMem_Realloc(fid_obj, (size_t)size * sizeof(PyObject *)) : NULL;
                        if (ids != NULL) fid_obj = ids;
                        if (grown == NULL || ids == NULL) { PyErr_NoMemory(); rc = -1; }
                        else fcap = size;
                    }
                    if (rc == 0 && (fid_obj[fid] = PyLong_FromSsize_t(fid)) == NULL) {
                        n_flows--; /* nothing to release for it */
                        rc = -1;
                    }
                    if (rc == 0) {
                        fcount[fid] = 0;
                        if (PyList_Append(cols[0], path_o) < 0
                            || append_new(cols[1], PyLong_FromSsize_t(circuit)) < 0
                            || PyList_Append(cols[2], w_obj) < 0
                            || PyList_Append(cols[3], floor_o) < 0
                            || append_new(cols[4], PyFloat_FromDouble(upper)) < 0
                            || PyList_Append(cols[5], up_reason) < 0
                            || PyList_Append(cols[6], p_obj) < 0)
                            rc = -1;
                    }
                }
                Py_DECREF(weight);
                Py_DECREF(priority);
                Py_DECREF(floor_o);
                Py_XDECREF(held_reason);
                Py_DECREF(demand);
                if (rc < 0) goto row_fail;
                fcount[fid]++;
                /* one int object per flow, shared by its connectors */
                if (PyList_Append(keys, key) < 0 || PyList_Append(flow_of, fid_obj[fid]) < 0)
                    goto row_fail;
                continue;
            }
            Py_XDECREF(demand);
            /* fixed at 0 A: idle connectors mostly stay idle, reuse the old value */
            PyObject *old = limit_or_old(&lsl, before, key, zero_float, reason, Py_None,
                                         phases, new_limit);
            if (old == NULL) goto row_fail;
            if (dict_put(fixed, key, old) < 0) goto row_fail;
            continue;
        demand_fail:
            Py_DECREF(demand);
            goto row_fail;
        }
        Py_DECREF(cap);
        Py_DECREF(cap_reason);
        Py_XDECREF(offline_ref);
        continue;
    row_fail:
        Py_DECREF(cap);
        Py_DECREF(cap_reason);
        Py_XDECREF(offline_ref);
        goto done;
    }
    for (Py_ssize_t f = 0; f < n_flows; f++) {
        if (append_new(counts, PyLong_FromSsize_t(fcount[f])) < 0) goto done;
    }
    result = PyTuple_New(7);
    if (result == NULL) goto done;
    for (int c = 0; c < 7; c++) {
        PyTuple_SET_ITEM(result, c, cols[c]);
        cols[c] = NULL;
    }

done:
    for (int c = 0; c < 7; c++) Py_XDECREF(cols[c]);
    Py_XDECREF(snap);
    Py_XDECREF(states);
    Py_XDECREF(demands);
    Py_XDECREF(stale_panels);
    Py_XDECREF(before);
    Py_XDECREF(floors);
    Py_XDECREF(fixed);
    Py_XDECREF(flows);
    Py_XDECREF(counts);
    Py_XDECREF(keys);
    Py_XDECREF(flow_of);
    Py_XDECREF(plan);
    Py_XDECREF(bld.paths);
    Py_XDECREF(bld.offline);
    Py_XDECREF(bld.reserved);
    Py_XDECREF(bld.room);
    Py_XDECREF(bld.res_reason);
    Py_XDECREF(bld.charger_cap);
    Py_XDECREF(bld.circuit_phases);
    PyMem_Free(fmap.keys);
    PyMem_Free(fmap.slots);
    PyMem_Free(fcount);
    for (Py_ssize_t f = 0; f < n_flows; f++) Py_DECREF(fid_obj[f]);
    PyMem_Free(fid_obj);
    return result;
}

/* ---- the per-flow passes (evsite.core.flowbuild, evsite.core.allocator) ---- */

/* ``PyFloat_AsDouble`` of every item of a list (NULL with an exception). */
static double *
list_doubles(PyObject *list, const char *name)
{
    if (!PyList_Check(list)) {
        PyErr_Format(PyExc_TypeError, "%s must be a list", name);
        return NULL;
    }
    return read_doubles(list, PyList_GET_SIZE(list), name);
}

/* Items of a list of ints as Py_ssize_t, each in [0, bound) (NULL on error). */
static Py_ssize_t *
list_indices(PyObject *list, Py_ssize_t bound, const char *name)
{
    if (!PyList_Check(list)) {
        PyErr_Format(PyExc_TypeError, "%s must be a list", name);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    Py_ssize_t *out = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Py_ssize_t));
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t v = PyLong_AsSsize_t(PyList_GET_ITEM(list, i));
        if (v == -1 && PyErr_Occurred()) {
            PyMem_Free(out);
            return NULL;
        }
        if (v < 0 || v >= bound) {
            PyErr_Format(PyExc_IndexError, "%s: %zd out of range", name, v);
            PyMem_Free(out);
            return NULL;
        }
        out[i] = v;
    }
    return out;
}

/* out[r] += sign × by_path[k] for each resource r of every path k with a
 * total (sign -1 subtracts: negating a double is exact); 0, or -1 with an
 * exception for a path that is not a tuple of resources below ``n_out``. */
static int
add_path_totals(PyObject *paths, const double *by_path, double *out, Py_ssize_t n_out,
                double sign)
{
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(paths); k++) {
        if (!by_path[k]) continue;
        PyObject *path = PyTuple_GET_ITEM(paths, k);
        if (!PyTuple_Check(path)) {
            PyErr_SetString(PyExc_TypeError, "a path must be a tuple");
            return -1;
        }
        double amount = sign * by_path[k];
        for (Py_ssize_t q = 0; q < PyTuple_GET_SIZE(path); q++) {
            Py_ssize_t r = PyLong_AsSsize_t(PyTuple_GET_ITEM(path, q));
            if (r == -1 && PyErr_Occurred()) return -1;
            if (r < 0 || r >= n_out) {
                PyErr_Format(PyExc_IndexError, "path resource %zd out of range", r);
                return -1;
            }
            out[r] += amount;
        }
    }
    return 0;
}

/* A new list of floats from ``n`` doubles. */
static PyObject *
list_from_doubles(const double *values, Py_ssize_t n)
{
    PyObject *list = PyList_New(n);
    if (list == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyFloat_FromDouble(values[i]);
        if (v == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

PyDoc_STRVAR(flow_resources_doc,
"flow_resources(path_ids, circuit_firsts, uppers, counts, paths, path_phases,\n"
"               room, n_panel_res, circuit_phases) -> (phases, circuits, resources)\n"
"--\n\n"
"Compiled second half of evsite.core.flowbuild.FlowBuilder.finish: each\n"
"flow's phases, shared-circuit resources and engine resources, with the panel\n"
"phases and circuits that cannot bind this cycle pruned (equal pruned paths\n"
"are one tuple object, as the engine groups flows by it).");

static PyObject *
flow_resources(PyObject *self, PyObject *args)
{
    PyObject *path_ids_o, *firsts_o, *uppers_o, *counts_o, *paths, *path_phases;
    PyObject *room_o, *circuit_phases;
    Py_ssize_t n_panel;
    if (!PyArg_ParseTuple(args, "OOOOO!O!O!nO!", &path_ids_o, &firsts_o, &uppers_o,
                          &counts_o, &PyTuple_Type, &paths, &PyTuple_Type, &path_phases,
                          &PyList_Type, &room_o, &n_panel, &PyDict_Type, &circuit_phases))
        return NULL;
    Py_ssize_t n_paths = PyTuple_GET_SIZE(paths);
    Py_ssize_t n_res = PyList_GET_SIZE(room_o);
    Py_ssize_t *path_ids = NULL;
    double *uppers = NULL, *counts = NULL, *room = NULL, *by_path = NULL, *need = NULL;
    double *c_need = NULL;
    char *hot = NULL, *c_touched = NULL;
    PyObject *phases = NULL, *circuits = NULL, *resources = NULL, *pruned = NULL;
    PyObject *same = NULL, *result = NULL;

    if (PyTuple_GET_SIZE(path_phases) != n_paths) {
        PyErr_SetString(PyExc_ValueError, "path_phases: one per path");
        goto done;
    }
    path_ids = list_indices(path_ids_o, n_paths, "path_ids");
    if (path_ids == NULL) goto done;
    Py_ssize_t n = PyList_GET_SIZE(path_ids_o);
    if (!PyList_Check(firsts_o) || PyList_GET_SIZE(firsts_o) != n) {
        PyErr_SetString(PyExc_ValueError, "circuit_firsts: one per flow");
        goto done;
    }
    uppers = list_doubles(uppers_o, "uppers");
    counts = uppers ? list_doubles(counts_o, "counts") : NULL;
    room = counts ? list_doubles(room_o, "room") : NULL;
    if (room == NULL) goto done;
    if (PyList_GET_SIZE(uppers_o) != n || PyList_GET_SIZE(counts_o) != n
        || n_panel > n_res || n_panel < 0) {
        PyErr_SetString(PyExc_ValueError, "flow columns differ in length");
        goto done;
    }
    phases = PyList_New(n);
    circuits = PyList_New(n);
    resources = PyList_New(n);
    if (!phases || !circuits || !resources) goto done;

    /* phases, and each flow's shared-circuit resources (rare: the builder's) */
    for (Py_ssize_t f = 0; f < n; f++) {
        PyObject *ph = PyTuple_GET_ITEM(path_phases, path_ids[f]);
        if (!PyTuple_Check(ph)) {
            PyErr_SetString(PyExc_TypeError, "path phases must be tuples");
            goto done;
        }
        PyList_SET_ITEM(phases, f, Py_NewRef(ph));
        PyObject *first = PyList_GET_ITEM(firsts_o, f);
        int truth = PyObject_IsTrue(first);
        if (truth < 0) goto done;
        PyObject *extra;
        if (truth) { /* FlowBuilder._circuit_resources: its phases of the circuit */
            PyObject *cphases = PyDict_GetItemWithError(circuit_phases, first);
            if (cphases == NULL) {
                if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, first);
                goto done;
            }
            Py_ssize_t base = PyLong_AsSsize_t(first);
            if (base == -1 && PyErr_Occurred()) goto done;
            Py_ssize_t len = PyTuple_GET_SIZE(ph);
            extra = PyTuple_New(len);
            if (extra == NULL) goto done;
            for (Py_ssize_t q = 0; q < len; q++) {
                Py_ssize_t at = PySequence_Index(cphases, PyTuple_GET_ITEM(ph, q));
                PyObject *r = at < 0 ? NULL : PyLong_FromSsize_t(base + at);
                if (r == NULL) {
                    Py_DECREF(extra);
                    goto done;
                }
                PyTuple_SET_ITEM(extra, q, r);
            }
        }
        else {
            extra = PyTuple_New(0);
            if (extra == NULL) goto done;
        }
        PyList_SET_ITEM(circuits, f, extra);
    }

    /* pruned paths: keep the panel phases the flows' upper bounds can fill */
    by_path = PyMem_Calloc((size_t)(n_paths ? n_paths : 1), sizeof(double));
    need = PyMem_Calloc((size_t)(n_panel ? n_panel : 1), sizeof(double));
    hot = PyMem_Calloc((size_t)(n_panel ? n_panel : 1), 1);
    if (!by_path || !need || !hot) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t f = 0; f < n; f++) by_path[path_ids[f]] += uppers[f] * counts[f];
    if (add_path_totals(paths, by_path, need, n_panel, 1.0) < 0) goto done;
    for (Py_ssize_t r = 0; r < n_panel; r++) hot[r] = need[r] > room[r] - EPS;
    pruned = PyList_New(n_paths);
    same = PyDict_New();
    if (!pruned || !same) goto done;
    for (Py_ssize_t k = 0; k < n_paths; k++) {
        PyObject *path = PyTuple_GET_ITEM(paths, k);
        PyObject *kept;
        if (by_path[k]) {
            Py_ssize_t len = PyTuple_GET_SIZE(path), m = 0;
            kept = PyTuple_New(len);
            if (kept == NULL) goto done;
            for (Py_ssize_t q = 0; q < len; q++) {
                PyObject *item = PyTuple_GET_ITEM(path, q);
                if (hot[PyLong_AsSsize_t(item)]) PyTuple_SET_ITEM(kept, m++, Py_NewRef(item));
            }
            if (m < len && _PyTuple_Resize(&kept, m) < 0) goto done;
        }
        else {
            kept = PyTuple_New(0);
            if (kept == NULL) goto done;
        }
        PyObject *one = PyDict_SetDefault(same, kept, kept); /* borrowed */
        Py_DECREF(kept);
        if (one == NULL) goto done;
        PyList_SET_ITEM(pruned, k, Py_NewRef(one));
    }

    /* live circuits: a circuit binds only if its ports may want more than its cap */
    c_need = PyMem_Calloc((size_t)(n_res ? n_res : 1), sizeof(double));
    c_touched = PyMem_Calloc((size_t)(n_res ? n_res : 1), 1);
    if (!c_need || !c_touched) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t f = 0; f < n; f++) {
        PyObject *extra = PyList_GET_ITEM(circuits, f);
        for (Py_ssize_t q = 0; q < PyTuple_GET_SIZE(extra); q++) {
            Py_ssize_t r = PyLong_AsSsize_t(PyTuple_GET_ITEM(extra, q));
            if (r == -1 && PyErr_Occurred()) goto done;
            if (r < 0 || r >= n_res) {
                PyErr_Format(PyExc_IndexError, "circuit resource %zd out of range", r);
                goto done;
            }
            c_need[r] = (c_touched[r] ? c_need[r] : 0.0) + uppers[f] * counts[f];
            c_touched[r] = 1;
        }
    }
    for (Py_ssize_t f = 0; f < n; f++) {
        PyObject *extra = PyList_GET_ITEM(circuits, f);
        PyObject *base = PyList_GET_ITEM(pruned, path_ids[f]);
        Py_ssize_t len = PyTuple_GET_SIZE(extra), live = 0;
        for (Py_ssize_t q = 0; q < len; q++) {
            Py_ssize_t r = PyLong_AsSsize_t(PyTuple_GET_ITEM(extra, q));
            live += c_need[r] > room[r] - EPS;
        }
        if (live == 0) {
            PyList_SET_ITEM(resources, f, Py_NewRef(base));
            continue;
        }
        Py_ssize_t b = PyTuple_GET_SIZE(base);
        PyObject *res = PyTuple_New(b + live); /* its own object: its own group */
        if (res == NULL) goto done;
        for (Py_ssize_t q = 0; q < b; q++)
            PyTuple_SET_ITEM(res, q, Py_NewRef(PyTuple_GET_ITEM(base, q)));
        Py_ssize_t m = b;
        for (Py_ssize_t q = 0; q < len; q++) {
            PyObject *item = PyTuple_GET_ITEM(extra, q);
            Py_ssize_t r = PyLong_AsSsize_t(item);
            if (c_need[r] > room[r] - EPS) PyTuple_SET_ITEM(res, m++, Py_NewRef(item));
        }
        PyList_SET_ITEM(resources, f, res);
    }
    result = PyTuple_Pack(3, phases, circuits, resources);

done:
    Py_XDECREF(phases);
    Py_XDECREF(circuits);
    Py_XDECREF(resources);
    Py_XDECREF(pruned);
    Py_XDECREF(same);
    PyMem_Free(path_ids);
    PyMem_Free(uppers);
    PyMem_Free(counts);
    PyMem_Free(room);
    PyMem_Free(by_path);
    PyMem_Free(need);
    PyMem_Free(hot);
    PyMem_Free(c_need);
    PyMem_Free(c_touched);
    return result;
}

PyDoc_STRVAR(room_after_floors_doc,
"room_after_floors(path_ids, floors, counts, circuits, paths, room) -> list\n"
"--\n\n"
"Compiled evsite.core.allocator._room_after_floors: the room left once\n"
"``counts[f]`` connectors of every flow take their floor.");

static PyObject *
room_after_floors(PyObject *self, PyObject *args)
{
    PyObject *path_ids_o, *floors_o, *counts_o, *circuits, *paths, *room_o;
    if (!PyArg_ParseTuple(args, "OOOO!O!O!", &path_ids_o, &floors_o, &counts_o,
                          &PyList_Type, &circuits, &PyTuple_Type, &paths, &PyList_Type,
                          &room_o))
        return NULL;
    Py_ssize_t n_paths = PyTuple_GET_SIZE(paths), n_res = PyList_GET_SIZE(room_o);
    Py_ssize_t *path_ids = list_indices(path_ids_o, n_paths, "path_ids");
    double *floors = path_ids ? list_doubles(floors_o, "floors") : NULL;
    double *counts = floors ? list_doubles(counts_o, "counts") : NULL;
    double *room = counts ? list_doubles(room_o, "room") : NULL;
    double *by_path = PyMem_Calloc((size_t)(n_paths ? n_paths : 1), sizeof(double));
    PyObject *result = NULL;
    if (room == NULL || by_path == NULL) {
        if (by_path == NULL) PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n = PyList_GET_SIZE(path_ids_o);
    if (PyList_GET_SIZE(floors_o) != n || PyList_GET_SIZE(counts_o) != n
        || PyList_GET_SIZE(circuits) != n) {
        PyErr_SetString(PyExc_ValueError, "flow columns differ in length");
        goto done;
    }
    for (Py_ssize_t f = 0; f < n; f++) {
        double amount = floors[f] * counts[f];
        by_path[path_ids[f]] += amount;
        PyObject *circuit = PyList_GET_ITEM(circuits, f);
        if (!PyTuple_Check(circuit)) {
            PyErr_SetString(PyExc_TypeError, "a circuit must be a tuple");
            goto done;
        }
        for (Py_ssize_t q = 0; q < PyTuple_GET_SIZE(circuit); q++) {
            Py_ssize_t r = PyLong_AsSsize_t(PyTuple_GET_ITEM(circuit, q));
            if (r == -1 && PyErr_Occurred()) goto done;
            if (r < 0 || r >= n_res) {
                PyErr_Format(PyExc_IndexError, "circuit resource %zd out of range", r);
                goto done;
            }
            room[r] -= amount;
        }
    }
    if (add_path_totals(paths, by_path, room, n_res, -1.0) < 0) goto done;
    result = list_from_doubles(room, n_res);

done:
    PyMem_Free(path_ids);
    PyMem_Free(floors);
    PyMem_Free(counts);
    PyMem_Free(room);
    PyMem_Free(by_path);
    return result;
}

/* An engine flow's merge key (allocator._engine_flows): resources by identity. */
typedef struct {
    PyObject *res;
    double weight, floor, upper;
    long long prio;
} EngineKey;

PyDoc_STRVAR(fill_flows_doc,
"fill_flows(resources, weights, floors, uppers, priority, counts, room,\n"
"           upper_reason, phases, res_reason, n_panel, charger_cap,\n"
"           charger_max, fair_share, unused) -> list\n"
"--\n\n"
"Compiled evsite.core.allocator._fill_by_class followed by _flow_limits:\n"
"merge flows the engine cannot tell apart, water-fill the priority classes\n"
"(highest first, floors taken), then round each flow's rate down to 0.1 A and\n"
"name what binds it: per flow (limit, reason, panel id, phases), ``unused``\n"
"for a flow with no admitted connector. ``room`` is updated in place.");

static PyObject *
fill_flows(PyObject *self, PyObject *args)
{
    PyObject *resources, *weights_o, *floors_o, *uppers_o, *prio_o, *counts_o, *room_o;
    PyObject *upper_reason, *phases, *res_reason, *charger_cap, *charger_max;
    PyObject *fair_share, *unused;
    Py_ssize_t n_panel;
    if (!PyArg_ParseTuple(args, "O!OOOOOO!O!O!O!nO!OOO", &PyList_Type, &resources,
                          &weights_o, &floors_o, &uppers_o, &prio_o, &counts_o,
                          &PyList_Type, &room_o, &PyList_Type, &upper_reason,
                          &PyList_Type, &phases, &PyList_Type, &res_reason, &n_panel,
                          &PyDict_Type, &charger_cap, &charger_max, &fair_share, &unused))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(resources), n_res = PyList_GET_SIZE(room_o);
    double *weights = NULL, *floors = NULL, *uppers = NULL, *counts = NULL;
    double *room = NULL, *room_before = NULL;
    long long *prio = NULL;
    Py_ssize_t *engine_of = NULL, *members = NULL;
    EngineKey *ekeys = NULL;
    double *e_w = NULL, *e_floor = NULL, *e_upper = NULL, *e_count = NULL;
    double *e_rates = NULL;
    long *e_binding = NULL;
    PyObject **e_res = NULL;
    Py_ssize_t *slots = NULL;
    PyObject *result = NULL;

    weights = list_doubles(weights_o, "weights");
    floors = weights ? list_doubles(floors_o, "floors") : NULL;
    uppers = floors ? list_doubles(uppers_o, "uppers") : NULL;
    counts = uppers ? list_doubles(counts_o, "counts") : NULL;
    room = counts ? list_doubles(room_o, "room") : NULL;
    if (room == NULL) goto done;
    if (PyList_GET_SIZE(weights_o) != n || PyList_GET_SIZE(floors_o) != n
        || PyList_GET_SIZE(uppers_o) != n || PyList_GET_SIZE(counts_o) != n
        || !PyList_Check(prio_o) || PyList_GET_SIZE(prio_o) != n
        || PyList_GET_SIZE(upper_reason) != n || PyList_GET_SIZE(phases) != n) {
        PyErr_SetString(PyExc_ValueError, "flow columns differ in length");
        goto done;
    }
    size_t alloc = (size_t)(n ? n : 1);
    prio = PyMem_Malloc(alloc * sizeof(long long));
    engine_of = PyMem_Malloc(alloc * sizeof(Py_ssize_t));
    members = PyMem_Malloc(alloc * sizeof(Py_ssize_t));
    ekeys = PyMem_Malloc(alloc * sizeof(EngineKey));
    e_w = PyMem_Malloc(alloc * sizeof(double));
    e_floor = PyMem_Malloc(alloc * sizeof(double));
    e_upper = PyMem_Malloc(alloc * sizeof(double));
    e_count = PyMem_Malloc(alloc * sizeof(double));
    e_rates = PyMem_Malloc(alloc * sizeof(double));
    e_binding = PyMem_Malloc(alloc * sizeof(long));
    e_res = PyMem_Malloc(alloc * sizeof(PyObject *));
    size_t size = 16;
    while (size < alloc * 2) size <<= 1;
    slots = PyMem_Malloc(size * sizeof(Py_ssize_t));
    room_before = PyMem_Malloc((size_t)(n_res ? n_res : 1) * sizeof(double));
    if (!prio || !engine_of || !members || !ekeys || !e_w || !e_floor || !e_upper
        || !e_count || !e_rates || !e_binding || !e_res || !slots || !room_before) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t f = 0; f < n; f++) {
        prio[f] = PyLong_AsLongLong(PyList_GET_ITEM(prio_o, f));
        if (prio[f] == -1 && PyErr_Occurred()) goto done;
    }
    memcpy(room_before, room, (size_t)n_res * sizeof(double));

    /* merge: same resources object, weight, floor, upper bound and class */
    for (size_t s = 0; s < size; s++) slots[s] = -1;
    Py_ssize_t n_e = 0;
    for (Py_ssize_t f = 0; f < n; f++) {
        EngineKey k = {PyList_GET_ITEM(resources, f), weights[f], floors[f], uppers[f],
                       prio[f]};
        uint64_t h = 1469598103934665603ULL;
        h = mix(h, (uint64_t)(uintptr_t)k.res);
        h = mix(h, dbits(k.weight));
        h = mix(h, dbits(k.floor));
        h = mix(h, dbits(k.upper));
        h = mix(h, (uint64_t)k.prio);
        size_t s = (size_t)fmix64(h) & (size - 1);
        Py_ssize_t e = -1;
        while (slots[s] >= 0) {
            EngineKey *o = &ekeys[slots[s]];
            if (o->res == k.res && o->weight == k.weight && o->floor == k.floor
                && o->upper == k.upper && o->prio == k.prio) {
                e = slots[s];
                break;
            }
            s = (s + 1) & (size - 1);
        }
        if (e < 0) {
            e = slots[s] = n_e++;
            ekeys[e] = k;
            e_res[e] = k.res;
            e_w[e] = k.weight;
            e_floor[e] = k.floor;
            e_upper[e] = k.upper;
            e_count[e] = counts[f];
        }
        else {
            e_count[e] += counts[f];
        }
        engine_of[f] = e;
    }
    for (Py_ssize_t e = 0; e < n_e; e++) {
        e_rates[e] = 0.0;
        e_binding[e] = CAPPED;
    }

    /* the priority classes, highest first; lower classes keep their floors */
    FillArgs fa = {n_e, n_res, e_res, e_w, e_floor, e_upper, e_count, room, e_rates,
                   e_binding};
    long long done_above = 0;
    int any_done = 0;
    for (;;) {
        /* the highest class below the ones filled */
        int found = 0;
        long long cls = 0;
        for (Py_ssize_t e = 0; e < n_e; e++) {
            if (!e_count[e]) continue;
            long long p = ekeys[e].prio;
            if (any_done && p >= done_above) continue;
            if (!found || p > cls) {
                cls = p;
                found = 1;
            }
        }
        if (!found) break;
        Py_ssize_t m = 0;
        for (Py_ssize_t e = 0; e < n_e; e++)
            if (e_count[e] && ekeys[e].prio == cls) members[m++] = e;
        if (fill_core(&fa, members, m, 1) < 0) goto done;
        done_above = cls;
        any_done = 1;
    }

    /* round down to 0.1 A and name what binds each flow */
    result = PyList_New(n);
    if (result == NULL) goto done;
    for (Py_ssize_t f = 0; f < n; f++) {
        if (!counts[f]) {
            PyList_SET_ITEM(result, f, Py_NewRef(unused));
            continue;
        }
        Py_ssize_t e = engine_of[f];
        double limit = floor(e_rates[e] * 10 + 1e-7) / 10;
        PyObject *limit_o;
        if (limit < floors[f]) limit_o = Py_NewRef(PyList_GET_ITEM(floors_o, f));
        else limit_o = PyFloat_FromDouble(limit);
        if (limit_o == NULL) goto fail;
        limit = PyFloat_AS_DOUBLE(limit_o);
        long r = e_binding[e];
        PyObject *reason, *panel_id;
        if (r == CAPPED) {
            reason = PyList_GET_ITEM(upper_reason, f);
            panel_id = Py_None;
        }
        else {
            if (r < 0 || r >= PyList_GET_SIZE(res_reason)) {
                Py_DECREF(limit_o);
                PyErr_Format(PyExc_IndexError, "res_reason: %ld out of range", r);
                goto fail;
            }
            PyObject *pair = PyList_GET_ITEM(res_reason, r);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                Py_DECREF(limit_o);
                PyErr_SetString(PyExc_TypeError, "res_reason items must be pairs");
                goto fail;
            }
            reason = PyTuple_GET_ITEM(pair, 0);
            panel_id = PyTuple_GET_ITEM(pair, 1);
            if (r >= n_panel && reason == charger_max) { /* a shared circuit */
                PyObject *key = PyLong_FromLong(r);
                PyObject *cap = key ? PyDict_GetItemWithError(charger_cap, key) : NULL;
                Py_XDECREF(key);
                if (cap == NULL) {
                    if (!PyErr_Occurred()) PyErr_Format(PyExc_KeyError, "%ld", r);
                    Py_DECREF(limit_o);
                    goto fail;
                }
                double c = PyFloat_AsDouble(cap);
                if (c == -1.0 && PyErr_Occurred()) {
                    Py_DECREF(limit_o);
                    goto fail;
                }
                if (limit < c - EPS) reason = fair_share;
            }
        }
        PyObject *out = PyTuple_Pack(4, limit_o, reason, panel_id, PyList_GET_ITEM(phases, f));
        Py_DECREF(limit_o);
        if (out == NULL) goto fail;
        PyList_SET_ITEM(result, f, out);
    }
    for (Py_ssize_t r = 0; r < n_res; r++) {
        if (memcmp(&room_before[r], &room[r], sizeof(double)) == 0) continue;
        if (list_put(room_o, r, PyFloat_FromDouble(room[r])) < 0) goto fail;
    }
    goto done;
fail:
    Py_CLEAR(result);
done:
    PyMem_Free(weights);
    PyMem_Free(floors);
    PyMem_Free(uppers);
    PyMem_Free(counts);
    PyMem_Free(room);
    PyMem_Free(room_before);
    PyMem_Free(prio);
    PyMem_Free(engine_of);
    PyMem_Free(members);
    PyMem_Free(ekeys);
    PyMem_Free(e_w);
    PyMem_Free(e_floor);
    PyMem_Free(e_upper);
    PyMem_Free(e_count);
    PyMem_Free(e_rates);
    PyMem_Free(e_binding);
    PyMem_Free(e_res);
    PyMem_Free(slots);
    return result;
}

/* ``dict.get(j)`` for every j in [0, n) as one array of borrowed values (NULL:
 * absent), when every key of ``dict`` is an exact int: 1. Returns 0 (look up
 * each j instead) for a dict with other keys, or an object that is no dict. */
static int
values_by_index(PyObject *dict, Py_ssize_t n, PyObject **out)
{
    if (!PyDict_CheckExact(dict)) return 0;
    for (Py_ssize_t j = 0; j < n; j++) out[j] = NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (!PyLong_CheckExact(key)) return 0;
        int overflow;
        long long j = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (overflow || j < 0 || j >= n) continue; /* no index asks for it */
        out[j] = value;
    }
    return 1;
}

PyDoc_STRVAR(connector_limits_doc,
"connector_limits(keys, per_flow, flow_of, before, limits, new_limit, blocked,\n"
"                 initial_room, floors, phases, res_reason, min_current_rotation)\n"
"--\n\n"
"Compiled evsite.core.allocator._competing_limits: every competing connector\n"
"gets its flow's limit (``per_flow[flow_of[j]]``), or 0 A if refused at\n"
"admission (``blocked[j]`` names the resource: ``min_current_rotation`` when\n"
"the floor would fit there alone, else that resource's reason; the flow's\n"
"``phases``). The previous\n"
"ConnectorLimit is reused when unchanged.");

static PyObject *
connector_limits(PyObject *self, PyObject *args)
{
    PyObject *keys, *per_flow, *flow_of, *before, *limits, *new_limit, *blocked;
    PyObject *initial_room, *floors_o, *flow_phases, *res_reason, *rotation_reason;
    if (!PyArg_ParseTuple(args, "O!O!OOO!OO!O!O!O!O!O", &PyList_Type, &keys, &PyList_Type,
                          &per_flow, &flow_of, &before, &PyDict_Type, &limits, &new_limit,
                          &PyDict_Type, &blocked, &PyList_Type, &initial_room, &PyList_Type,
                          &floors_o, &PyList_Type, &flow_phases, &PyList_Type, &res_reason,
                          &rotation_reason))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(keys), n_flows = PyList_GET_SIZE(per_flow);
    Py_ssize_t *fids = list_indices(flow_of, n_flows, "flow_of");
    if (fids == NULL) return NULL;
    PyObject *result = NULL;
    PyObject **refused_at = NULL;
    if (PyList_GET_SIZE(flow_of) != n || PyList_GET_SIZE(floors_o) != n_flows
        || PyList_GET_SIZE(flow_phases) != n_flows) {
        PyErr_SetString(PyExc_ValueError, "flow_of: one per connector; floors, phases per flow");
        goto done;
    }
    int any_blocked = PyDict_GET_SIZE(blocked) > 0;
    Slots lsl = {NULL, 0, 4, limit_names, {0}};
    if (any_blocked) { /* blocked[j] for every j, when one array does */
        refused_at = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(PyObject *));
        if (refused_at == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        if (!values_by_index(blocked, n, refused_at)) {
            PyMem_Free(refused_at);
            refused_at = NULL;
        }
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *key = PyList_GET_ITEM(keys, j);
        PyObject *out = PyList_GET_ITEM(per_flow, fids[j]);
        if (!PyTuple_Check(out) || PyTuple_GET_SIZE(out) != 4 || !PyTuple_Check(key)
            || PyTuple_GET_SIZE(key) != 2) {
            PyErr_SetString(PyExc_TypeError, "keys must be pairs and per_flow 4-tuples");
            goto done;
        }
        PyObject *limit = PyTuple_GET_ITEM(out, 0), *reason = PyTuple_GET_ITEM(out, 1);
        PyObject *panel_id = PyTuple_GET_ITEM(out, 2), *phases = PyTuple_GET_ITEM(out, 3);
        if (any_blocked) { /* allocator._refused */
            PyObject *r_o;
            if (refused_at != NULL) {
                r_o = refused_at[j];
            }
            else {
                PyObject *jo = PyLong_FromSsize_t(j);
                if (jo == NULL) goto done;
                r_o = PyDict_GetItemWithError(blocked, jo);
                Py_DECREF(jo);
                if (r_o == NULL && PyErr_Occurred()) goto done;
            }
            if (r_o != NULL) {
                Py_ssize_t r = PyLong_AsSsize_t(r_o);
                if (r == -1 && PyErr_Occurred()) goto done;
                if (r < 0 || r >= PyList_GET_SIZE(initial_room)
                    || r >= PyList_GET_SIZE(res_reason)) {
                    PyErr_Format(PyExc_IndexError, "blocked at %zd: out of range", r);
                    goto done;
                }
                double left = PyFloat_AsDouble(PyList_GET_ITEM(initial_room, r));
                double floor_a = PyFloat_AsDouble(PyList_GET_ITEM(floors_o, fids[j]));
                if (PyErr_Occurred()) goto done;
                limit = zero_float;
                phases = PyList_GET_ITEM(flow_phases, fids[j]);
                if (left >= floor_a - EPS) { /* it would fit alone: others came first */
                    reason = rotation_reason;
                    panel_id = Py_None;
                }
                else {
                    PyObject *pair = PyList_GET_ITEM(res_reason, r);
                    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                        PyErr_SetString(PyExc_TypeError, "res_reason items must be pairs");
                        goto done;
                    }
                    reason = PyTuple_GET_ITEM(pair, 0);
                    panel_id = PyTuple_GET_ITEM(pair, 1);
                }
            }
        }
        PyObject *old = limit_or_old(&lsl, before, key, limit, reason, panel_id, phases,
                                     new_limit);
        if (old == NULL) goto done;
        if (dict_put(limits, key, old) < 0) goto done;
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(refused_at);
    PyMem_Free(fids);
    return result;
}

PyDoc_STRVAR(panel_sums_doc,
"panel_sums(path_ids, per_flow, counts, paths, n_panel_res) -> list\n"
"--\n\n"
"Compiled sums of evsite.core.allocator._panels: per panel phase, the limits\n"
"of the admitted connectors beneath (summed per distinct path first).");

static PyObject *
panel_sums(PyObject *self, PyObject *args)
{
    PyObject *path_ids_o, *per_flow, *counts_o, *paths;
    Py_ssize_t n_panel;
    if (!PyArg_ParseTuple(args, "OO!OO!n", &path_ids_o, &PyList_Type, &per_flow,
                          &counts_o, &PyTuple_Type, &paths, &n_panel))
        return NULL;
    Py_ssize_t n_paths = PyTuple_GET_SIZE(paths);
    Py_ssize_t *path_ids = list_indices(path_ids_o, n_paths, "path_ids");
    double *counts = path_ids ? list_doubles(counts_o, "counts") : NULL;
    double *by_path = PyMem_Calloc((size_t)(n_paths ? n_paths : 1), sizeof(double));
    double *allocated = PyMem_Calloc((size_t)(n_panel > 0 ? n_panel : 1), sizeof(double));
    PyObject *result = NULL;
    if (counts == NULL || by_path == NULL || allocated == NULL || n_panel < 0) {
        if (counts != NULL && !PyErr_Occurred()) {
            if (n_panel < 0) PyErr_SetString(PyExc_ValueError, "n_panel_res < 0");
            else PyErr_NoMemory();
        }
        goto done;
    }
    Py_ssize_t n = PyList_GET_SIZE(path_ids_o);
    if (PyList_GET_SIZE(per_flow) != n || PyList_GET_SIZE(counts_o) != n) {
        PyErr_SetString(PyExc_ValueError, "flow columns differ in length");
        goto done;
    }
    for (Py_ssize_t f = 0; f < n; f++) {
        PyObject *out = PyList_GET_ITEM(per_flow, f);
        if (!PyTuple_Check(out) || PyTuple_GET_SIZE(out) < 1) {
            PyErr_SetString(PyExc_TypeError, "per_flow items must be tuples");
            goto done;
        }
        double limit = PyFloat_AsDouble(PyTuple_GET_ITEM(out, 0));
        if (limit == -1.0 && PyErr_Occurred()) goto done;
        by_path[path_ids[f]] += limit * counts[f];
    }
    if (add_path_totals(paths, by_path, allocated, n_panel, 1.0) < 0) goto done;
    result = list_from_doubles(allocated, n_panel);
done:
    PyMem_Free(path_ids);
    PyMem_Free(counts);
    PyMem_Free(by_path);
    PyMem_Free(allocated);
    return result;
}

/* ``round(x, 3)``: CPython rounds through the shortest-repr machinery
 * (_Py_dg_dtoa mode 3, then strtod); formatting with 'f' and precision 3 runs
 * the same dtoa mode and digits, and parsing the text back the same strtod. */
static PyObject *
round3(double x)
{
    if (!isfinite(x)) return PyFloat_FromDouble(x);
    char *text = PyOS_double_to_string(x, 'f', 3, 0, NULL);
    if (text == NULL) return NULL;
    double v = PyOS_string_to_double(text, NULL, NULL);
    PyMem_Free(text);
    if (v == -1.0 && PyErr_Occurred()) return NULL;
    return PyFloat_FromDouble(v);
}

PyDoc_STRVAR(round3_doc,
"round3(x) -> float\n--\n\n``round(x, 3)`` as the compiled panel figures compute it.");

static PyObject *
round3_py(PyObject *self, PyObject *arg)
{
    double x = PyFloat_AsDouble(arg);
    if (x == -1.0 && PyErr_Occurred()) return NULL;
    return round3(x);
}

/* {phase: round(values[r], 3) for phase, r in by_phase.items()} */
static PyObject *
rounded_by_phase(PyObject *by_phase, PyObject *values)
{
    PyObject *out = PyDict_New();
    if (out == NULL) return NULL;
    Py_ssize_t pos = 0;
    PyObject *ph, *r_o;
    while (PyDict_Next(by_phase, &pos, &ph, &r_o)) {
        Py_ssize_t r = PyLong_AsSsize_t(r_o);
        if (r == -1 && PyErr_Occurred()) goto fail;
        if (r < 0 || r >= PyList_GET_SIZE(values)) {
            PyErr_Format(PyExc_IndexError, "panel resource %zd out of range", r);
            goto fail;
        }
        double v = PyFloat_AsDouble(PyList_GET_ITEM(values, r));
        if (v == -1.0 && PyErr_Occurred()) goto fail;
        PyObject *rounded = round3(v);
        if (rounded == NULL) goto fail;
        if (dict_put(out, ph, rounded) < 0) goto fail;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

PyDoc_STRVAR(panel_figures_doc,
"panel_figures(caps, index, plain, allocated, reserved, new_panel) -> dict\n"
"--\n\n"
"Compiled loop of evsite.core.allocator._panels: per panel its capacity,\n"
"available, allocated and reserved figures (rounded to 3 decimals) as a\n"
"PanelAllocation made by ``new_panel``.");

static PyObject *
panel_figures(PyObject *self, PyObject *args)
{
    PyObject *caps, *index, *plain, *allocated, *reserved, *new_panel;
    if (!PyArg_ParseTuple(args, "O!O!OO!O!O", &PyDict_Type, &caps, &PyDict_Type, &index,
                          &plain, &PyList_Type, &allocated, &PyList_Type, &reserved,
                          &new_panel))
        return NULL;
    PyObject *result = PyDict_New();
    if (result == NULL) return NULL;
    Py_ssize_t pos = 0;
    PyObject *pid, *cap;
    while (PyDict_Next(caps, &pos, &pid, &cap)) {
        PyObject *by_phase = PyDict_GetItemWithError(index, pid); /* borrowed */
        if (by_phase == NULL) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, pid);
            goto fail;
        }
        if (!PyDict_Check(by_phase)) {
            PyErr_SetString(PyExc_TypeError, "index values must be dicts");
            goto fail;
        }
        PyObject *plain_cap = map_get(plain, pid);
        if (plain_cap == NULL) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, pid);
            goto fail;
        }
        int is_plain = plain_cap == cap;
        Py_DECREF(plain_cap);
        PyObject *available = PyObject_GetAttr(cap, s_available_a);
        PyObject *measured = available ? PyObject_GetAttr(cap, s_measured_a) : NULL;
        PyObject *stale = measured ? PyObject_GetAttr(cap, s_stale) : NULL;
        PyObject *shed = stale ? PyObject_GetAttr(cap, s_shed) : NULL;
        PyObject *capacity = NULL, *avail = NULL, *alloc_d = NULL, *res_d = NULL;
        PyObject *panel = NULL;
        if (shed == NULL) goto panel_done;
        if (is_plain) {
            capacity = Py_NewRef(available);
            avail = Py_NewRef(available);
        }
        else {
            PyObject *phases = PyObject_GetAttr(cap, s_phases);
            PyObject *cap_a = phases ? PyObject_GetAttr(cap, s_capacity_a) : NULL;
            if (cap_a != NULL) {
                capacity = PyDict_New();
                if (capacity != NULL) {
                    PyObject *it = PyObject_GetIter(phases), *ph;
                    if (it == NULL) Py_CLEAR(capacity);
                    while (capacity != NULL && (ph = PyIter_Next(it)) != NULL) {
                        if (PyDict_SetItem(capacity, ph, cap_a) < 0) Py_CLEAR(capacity);
                        Py_DECREF(ph);
                    }
                    Py_XDECREF(it);
                    if (PyErr_Occurred()) Py_CLEAR(capacity);
                }
            }
            Py_XDECREF(phases);
            Py_XDECREF(cap_a);
            if (capacity == NULL) goto panel_done;
            avail = PyDict_New();
            if (avail == NULL || PyDict_Merge(avail, available, 1) < 0) goto panel_done;
        }
        alloc_d = rounded_by_phase(by_phase, allocated);
        res_d = alloc_d ? rounded_by_phase(by_phase, reserved) : NULL;
        if (res_d == NULL) goto panel_done;
        panel = PyObject_CallFunctionObjArgs(new_panel, pid, capacity, avail, alloc_d, res_d,
                                             measured, stale, shed, NULL);
    panel_done:
        Py_XDECREF(available);
        Py_XDECREF(measured);
        Py_XDECREF(stale);
        Py_XDECREF(shed);
        Py_XDECREF(capacity);
        Py_XDECREF(avail);
        Py_XDECREF(alloc_d);
        Py_XDECREF(res_d);
        if (panel == NULL) goto fail;
        if (dict_put(result, pid, panel) < 0) goto fail;
    }
    return result;
fail:
    Py_DECREF(result);
    return NULL;
}

PyDoc_STRVAR(rotation_entries_doc,
"rotation_entries(keys, entries, running, waiting, paused) -> dict\n"
"--\n\n"
"Compiled loop of evsite.core.rotation.rotate: a key whose index is not in\n"
"``paused`` keeps its entry if it was running, else gets ``running``; a\n"
"paused one keeps its entry if it was waiting, else gets ``waiting``.");

static PyObject *
rotation_entries(PyObject *self, PyObject *args)
{
    PyObject *keys, *entries, *running, *waiting, *paused;
    if (!PyArg_ParseTuple(args, "O!OOOO", &PyList_Type, &keys, &entries, &running,
                          &waiting, &paused))
        return NULL;
    int any_paused = PyObject_IsTrue(paused);
    if (any_paused < 0) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(keys);
    PyObject **waiting_at = NULL; /* paused[j] for every j, when one array does */
    if (any_paused) {
        waiting_at = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(PyObject *));
        if (waiting_at == NULL) return PyErr_NoMemory();
        if (!values_by_index(paused, n, waiting_at)) {
            PyMem_Free(waiting_at);
            waiting_at = NULL;
        }
    }
    PyObject *result = PyDict_New();
    if (result == NULL) {
        PyMem_Free(waiting_at);
        return NULL;
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *key = PyList_GET_ITEM(keys, j);
        int waits = 0;
        if (waiting_at != NULL) {
            waits = waiting_at[j] != NULL;
        }
        else if (any_paused) {
            PyObject *jo = PyLong_FromSsize_t(j);
            waits = jo ? PySequence_Contains(paused, jo) : -1;
            Py_XDECREF(jo);
            if (waits < 0) goto fail;
        }
        PyObject *old = map_get(entries, key);
        if (old == NULL && PyErr_Occurred()) goto fail;
        if (old != NULL) {
            PyObject *since = PyObject_GetAttr(old, waits ? s_paused_since : s_admitted_since);
            if (since == NULL) {
                Py_DECREF(old);
                goto fail;
            }
            if (since == Py_None) Py_CLEAR(old);
            Py_DECREF(since);
        }
        int rc = PyDict_SetItem(result, key, old != NULL ? old : waits ? waiting : running);
        Py_XDECREF(old);
        if (rc < 0) goto fail;
    }
    PyMem_Free(waiting_at);
    return result;
fail:
    PyMem_Free(waiting_at);
    Py_DECREF(result);
    return NULL;
}

PyDoc_STRVAR(admit_connectors_doc,
"admit_connectors(order, flow_of, resources, left, floors, room)\n"
"    -> (counts, blocked)\n"
"--\n\n"
"Compiled admission of evsite.core.allocator._admit (waterfill.admit over\n"
"the connectors). Only the resources all floors overfill (``left[r]`` < 0)\n"
"are checked: in ``order``, each connector takes its flow's floor on its\n"
"flow's checked resources where all have room (a resource listed twice takes\n"
"it twice); else it is refused at the first one without. ``room`` is not\n"
"changed. Returns admitted connectors per flow and {connector: resource}.");

static PyObject *
admit_connectors(PyObject *self, PyObject *args)
{
    PyObject *order_o, *flow_of_o, *checked, *left_o, *floors_o, *room_o;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!", &PyList_Type, &order_o, &PyList_Type,
                          &flow_of_o, &PyList_Type, &checked, &PyList_Type, &left_o,
                          &PyList_Type, &floors_o, &PyList_Type, &room_o))
        return NULL;
    Py_ssize_t n_flows = PyList_GET_SIZE(checked), n_res = PyList_GET_SIZE(room_o);
    Py_ssize_t n = PyList_GET_SIZE(flow_of_o);
    Py_ssize_t *flow_of = NULL, *order = NULL, *res_start = NULL, *res = NULL;
    Py_ssize_t *admitted = NULL, *used = NULL;
    double *floors = NULL, *room = NULL, *left = NULL;
    char *twice = NULL, *seen = NULL;
    PyObject *counts = NULL, *blocked = NULL, *result = NULL;

    left = list_doubles(left_o, "left");
    if (left == NULL) goto done;
    if (PyList_GET_SIZE(left_o) != n_res) {
        PyErr_SetString(PyExc_ValueError, "left: one per resource");
        goto done;
    }
    flow_of = list_indices(flow_of_o, n_flows, "flow_of");
    order = flow_of ? list_indices(order_o, n, "order") : NULL;
    floors = order ? list_doubles(floors_o, "floors") : NULL;
    room = floors ? list_doubles(room_o, "room") : NULL;
    if (room == NULL) goto done;
    if (PyList_GET_SIZE(floors_o) != n_flows || PyList_GET_SIZE(order_o) != n) {
        PyErr_SetString(PyExc_ValueError, "floors: one per flow; order: one per connector");
        goto done;
    }
    /* each flow's checked resources, flattened; and whether one repeats */
    res_start = PyMem_Calloc((size_t)n_flows + 1, sizeof(Py_ssize_t));
    twice = PyMem_Calloc((size_t)(n_flows ? n_flows : 1), 1);
    seen = PyMem_Calloc((size_t)(n_res ? n_res : 1), 1);
    admitted = PyMem_Calloc((size_t)(n_flows ? n_flows : 1), sizeof(Py_ssize_t));
    if (!res_start || !twice || !seen || !admitted) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t f = 0; f < n_flows; f++) {
        PyObject *t = PyList_GET_ITEM(checked, f);
        if (!PyTuple_Check(t)) {
            PyErr_SetString(PyExc_TypeError, "resources must be tuples");
            goto done;
        }
        total += PyTuple_GET_SIZE(t); /* an upper bound: only tight ones kept */
    }
    res = PyMem_Malloc((size_t)(total ? total : 1) * sizeof(Py_ssize_t));
    used = PyMem_Malloc((size_t)(total ? total : 1) * sizeof(Py_ssize_t));
    if (!res || !used) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t f = 0; f < n_flows; f++) {
        PyObject *t = PyList_GET_ITEM(checked, f);
        res_start[f] = at;
        for (Py_ssize_t q = 0; q < PyTuple_GET_SIZE(t); q++) {
            Py_ssize_t r = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, q));
            if (r == -1 && PyErr_Occurred()) goto done;
            if (r < 0 || r >= n_res) {
                PyErr_Format(PyExc_IndexError, "resource %zd out of range", r);
                goto done;
            }
            if (!(left[r] < -EPS)) continue; /* never short: not checked */
            res[at++] = r;
            if (seen[r]) twice[f] = 1;
            seen[r] = 1;
        }
        res_start[f + 1] = at;
        for (Py_ssize_t q = res_start[f]; q < at; q++) seen[res[q]] = 0;
    }
    blocked = PyDict_New();
    if (blocked == NULL) goto done;
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t i = order[k], f = flow_of[i];
        double need = floors[f];
        Py_ssize_t lo = res_start[f], hi = res_start[f + 1], stop = -1;
        if (twice[f]) { /* each occurrence takes its share: check as we go */
            Py_ssize_t n_used = 0;
            for (Py_ssize_t q = lo; q < hi; q++) {
                Py_ssize_t r = res[q];
                if (room[r] < need - EPS) {
                    stop = r;
                    for (Py_ssize_t u = 0; u < n_used; u++) room[used[u]] += need;
                    break;
                }
                room[r] -= need;
                used[n_used++] = r;
            }
        }
        else {
            for (Py_ssize_t q = lo; q < hi; q++) {
                if (room[res[q]] < need - EPS) {
                    stop = res[q];
                    break;
                }
            }
            if (stop < 0)
                for (Py_ssize_t q = lo; q < hi; q++) room[res[q]] -= need;
        }
        if (stop < 0) {
            admitted[f]++;
            continue;
        }
        PyObject *ko = PyLong_FromSsize_t(i), *ro = PyLong_FromSsize_t(stop);
        int rc = (ko && ro) ? PyDict_SetItem(blocked, ko, ro) : -1;
        Py_XDECREF(ko);
        Py_XDECREF(ro);
        if (rc < 0) goto done;
    }
    counts = PyList_New(n_flows);
    if (counts == NULL) goto done;
    for (Py_ssize_t f = 0; f < n_flows; f++) {
        PyObject *c = PyLong_FromSsize_t(admitted[f]);
        if (c == NULL) goto done;
        PyList_SET_ITEM(counts, f, c);
    }
    result = PyTuple_Pack(2, counts, blocked);

done:
    Py_XDECREF(counts);
    Py_XDECREF(blocked);
    PyMem_Free(flow_of);
    PyMem_Free(order);
    PyMem_Free(res_start);
    PyMem_Free(res);
    PyMem_Free(used);
    PyMem_Free(admitted);
    PyMem_Free(floors);
    PyMem_Free(room);
    PyMem_Free(left);
    PyMem_Free(twice);
    PyMem_Free(seen);
    return result;
}

/* Sorting admission rows (-priority, group, waited, energy, start, key, i)
 * without Python comparisons when every row allows it: priorities small ints,
 * energies exact floats (not NaN) or ints within 2**53, and every datetime of
 * one exact type sharing one tzinfo object. Python compares such datetimes by
 * their fields (memcmp of the packed data, fold ignored), which is what is
 * done here; anything else leaves the rows to list.sort. */
typedef struct {
    long long prio; /* -priority */
    long group;
    const unsigned char *waited, *start;
    double energy;
    PyObject *key;
    Py_ssize_t index;
} AdmitRow;

static int sort_failed;

static int
admit_row_cmp(const void *pa, const void *pb)
{
    const AdmitRow *a = pa, *b = pb;
    if (a->prio != b->prio) return a->prio < b->prio ? -1 : 1;
    if (a->group != b->group) return a->group < b->group ? -1 : 1;
    int c = memcmp(a->waited, b->waited, _PyDateTime_DATETIME_DATASIZE);
    if (c) return c;
    if (a->energy != b->energy) return a->energy < b->energy ? -1 : 1;
    c = memcmp(a->start, b->start, _PyDateTime_DATETIME_DATASIZE);
    if (c) return c;
    if (a->key == b->key) return 0;
    int lt = PyObject_RichCompareBool(a->key, b->key, Py_LT);
    if (lt < 0) {
        sort_failed = 1;
        return 0;
    }
    return lt ? -1 : 1; /* connector keys are unique: never equal */
}

/* A datetime the fast sort may compare by its packed fields: an exact
 * datetime with ``*tzinfo`` as its zone (the first one seen sets it). */
static const unsigned char *
fast_datetime(PyObject *dt, PyObject **tzinfo)
{
    if (!PyDateTime_CheckExact(dt) || !((PyDateTime_DateTime *)dt)->hastzinfo) return NULL;
    PyObject *tz = ((PyDateTime_DateTime *)dt)->tzinfo;
    if (*tzinfo == NULL) *tzinfo = tz;
    return tz == *tzinfo ? ((PyDateTime_DateTime *)dt)->data : NULL;
}

/* Fill ``row`` for the fast sort; 0 when this row does not allow it. */
static int
fast_row(AdmitRow *row, PyObject *prio, long group, PyObject *waited, PyObject *energy,
         PyObject *start, PyObject **tzinfo)
{
    int overflow;
    if (!PyLong_CheckExact(prio)) return 0;
    long long p = PyLong_AsLongLongAndOverflow(prio, &overflow);
    if (overflow || p == LLONG_MIN || (p == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    row->prio = -p;
    row->group = group;
    if (PyFloat_CheckExact(energy)) {
        row->energy = PyFloat_AS_DOUBLE(energy);
        if (isnan(row->energy)) return 0;
    }
    else if (PyLong_CheckExact(energy)) {
        long long v = PyLong_AsLongLongAndOverflow(energy, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred()) || v > (1LL << 53) || v < -(1LL << 53)) {
            PyErr_Clear();
            return 0;
        }
        row->energy = (double)v;
    }
    else {
        return 0;
    }
    row->waited = fast_datetime(waited, tzinfo);
    row->start = row->waited ? fast_datetime(start, tzinfo) : NULL;
    return row->start != NULL;
}

PyDoc_STRVAR(admission_order_doc,
"admission_order(keys, flow_of, priority, demands, entries, slot_start, now,\n"
"                epoch) -> list\n"
"--\n\n"
"Compiled evsite.core.rotation.admission_order over the competing connectors\n"
"(``priority`` per flow, ``demands`` by key): indices, most deserving first,\n"
"in the order of the same key tuples (-priority, group, waited, energy, start,\n"
"key). When every row allows it (small-int priorities, exact energies, every\n"
"datetime of one exact type sharing one tzinfo object, which Python compares\n"
"by their packed fields) they are compared in C; else sorted as tuples.");

enum { E_ADMITTED_SINCE, E_PAUSED_SINCE };
enum { C_ENERGY_WH, C_SESSION_START };
static PyObject *entry_names[2], *cand_names[2];

static PyObject *
admission_order(PyObject *self, PyObject *args)
{
    PyObject *keys, *flow_of_o, *priority, *demands, *entries, *slot_start, *now, *epoch;
    if (!PyArg_ParseTuple(args, "O!O!O!OOOOO", &PyList_Type, &keys, &PyList_Type,
                          &flow_of_o, &PyList_Type, &priority, &demands, &entries,
                          &slot_start, &now, &epoch))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(keys);
    Py_ssize_t *flow_of = list_indices(flow_of_o, PyList_GET_SIZE(priority), "flow_of");
    if (flow_of == NULL) return NULL;
    PyObject *result = NULL, *rows = NULL;
    /* per connector: new references to its waited, energy and start */
    PyObject **held = PyMem_Calloc((size_t)(n ? 3 * n : 1), sizeof(PyObject *));
    long *groups = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(long));
    AdmitRow *fast = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(AdmitRow));
    Slots esl = {NULL, 0, 2, entry_names, {0}}, csl = {NULL, 0, 2, cand_names, {0}};
    if (held == NULL || groups == NULL || fast == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (PyList_GET_SIZE(flow_of_o) != n) {
        PyErr_SetString(PyExc_ValueError, "flow_of: one per connector");
        goto done;
    }
    int all_fast = 1;
    PyObject *tzinfo = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        PyObject *entry = map_get(entries, key);
        if (entry == NULL && PyErr_Occurred()) goto done;
        PyObject *admitted = entry ? slot_get(&esl, entry, E_ADMITTED_SINCE) : Py_NewRef(Py_None);
        PyObject *waited = NULL;
        if (admitted == NULL) {
            Py_XDECREF(entry);
            goto done;
        }
        if (admitted != Py_None) {
            int later = PyObject_RichCompareBool(admitted, slot_start, Py_GT);
            if (later < 0) {
                Py_DECREF(admitted);
                Py_XDECREF(entry);
                goto done;
            }
            groups[i] = later ? 0 : 2;
            waited = Py_NewRef(epoch);
        }
        else {
            groups[i] = 1;
            PyObject *since = entry ? slot_get(&esl, entry, E_PAUSED_SINCE) : Py_NewRef(Py_None);
            if (since == NULL) {
                Py_DECREF(admitted);
                Py_XDECREF(entry);
                goto done;
            }
            if (since == Py_None) {
                Py_DECREF(since);
                waited = Py_NewRef(now);
            }
            else {
                waited = since;
            }
        }
        Py_DECREF(admitted);
        Py_XDECREF(entry);
        held[3 * i] = waited;
        PyObject *demand = PyObject_GetItem(demands, key);
        if (demand == NULL) goto done;
        held[3 * i + 1] = slot_get(&csl, demand, C_ENERGY_WH);
        PyObject *start = held[3 * i + 1] ? slot_get(&csl, demand, C_SESSION_START) : NULL;
        Py_DECREF(demand);
        if (start == NULL) goto done;
        if (start == Py_None) Py_SETREF(start, Py_NewRef(epoch));
        held[3 * i + 2] = start;
        if (all_fast) {
            all_fast = fast_row(&fast[i], PyList_GET_ITEM(priority, flow_of[i]), groups[i],
                                waited, held[3 * i + 1], start, &tzinfo);
            fast[i].key = key;
            fast[i].index = i;
        }
    }
    if (all_fast) {
        sort_failed = 0;
        qsort(fast, (size_t)n, sizeof(AdmitRow), admit_row_cmp);
        if (sort_failed) goto done;
        result = PyList_New(n);
        if (result == NULL) goto done;
        for (Py_ssize_t k = 0; k < n; k++) {
            PyObject *index = PyLong_FromSsize_t(fast[k].index);
            if (index == NULL) {
                Py_CLEAR(result);
                goto done;
            }
            PyList_SET_ITEM(result, k, index);
        }
        goto done;
    }
    /* The general case: the same key tuples, sorted by list.sort. The keys
     * are unique (the connector key is in each), so the index appended
     * breaks no ties: the order is the one sorted() gives. */
    rows = PyList_New(n);
    if (rows == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *neg = PyNumber_Negative(PyList_GET_ITEM(priority, flow_of[i]));
        PyObject *group = neg ? PyLong_FromLong(groups[i]) : NULL;
        PyObject *index = group ? PyLong_FromSsize_t(i) : NULL;
        PyObject *row = index ? PyTuple_Pack(7, neg, group, held[3 * i], held[3 * i + 1],
                                             held[3 * i + 2], PyList_GET_ITEM(keys, i), index)
                              : NULL;
        Py_XDECREF(neg);
        Py_XDECREF(group);
        Py_XDECREF(index);
        if (row == NULL) goto done;
        PyList_SET_ITEM(rows, i, row);
    }
    if (PyList_Sort(rows) < 0) goto done;
    result = PyList_New(n);
    if (result == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++)
        PyList_SET_ITEM(result, i, Py_NewRef(PyTuple_GET_ITEM(PyList_GET_ITEM(rows, i), 6)));
done:
    Py_XDECREF(rows);
    if (held != NULL)
        for (Py_ssize_t i = 0; i < 3 * n; i++) Py_XDECREF(held[i]);
    PyMem_Free(held);
    PyMem_Free(groups);
    PyMem_Free(fast);
    PyMem_Free(flow_of);
    return result;
}

static PyMethodDef native_methods[] = {
    {"fill_into", fill_into, METH_VARARGS, fill_into_doc},
    {"classify", classify, METH_VARARGS, classify_doc},
    {"flow_resources", flow_resources, METH_VARARGS, flow_resources_doc},
    {"room_after_floors", room_after_floors, METH_VARARGS, room_after_floors_doc},
    {"fill_flows", fill_flows, METH_VARARGS, fill_flows_doc},
    {"connector_limits", connector_limits, METH_VARARGS, connector_limits_doc},
    {"panel_sums", panel_sums, METH_VARARGS, panel_sums_doc},
    {"admit_connectors", admit_connectors, METH_VARARGS, admit_connectors_doc},
    {"admission_order", admission_order, METH_VARARGS, admission_order_doc},
    {"panel_figures", panel_figures, METH_VARARGS, panel_figures_doc},
    {"rotation_entries", rotation_entries, METH_VARARGS, rotation_entries_doc},
    {"round3", round3_py, METH_O, round3_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "evsite.core._native",
    .m_doc = "Compiled inner loops of the allocator; see evsite.core.native.",
    .m_size = -1,
    .m_methods = native_methods,
};

static int
intern_names(void)
{
#define INTERN(var, text) \
    if ((var = PyUnicode_InternFromString(text)) == NULL) return -1
    INTERN(s_active, "active");
    INTERN(s_access_closed, "access_closed");
    INTERN(s_delayed, "delayed");
    INTERN(s_charge_now, "charge_now");
    INTERN(s_ev_max_a, "ev_max_a");
    INTERN(s_ev_phases, "ev_phases");
    INTERN(s_weight, "weight");
    INTERN(s_priority, "priority");
    INTERN(s_online, "online");
    INTERN(s_controllable, "controllable");
    INTERN(s_maintenance, "maintenance");
    INTERN(s_offline_allocation_a, "offline_allocation_a");
    INTERN(s_reason, "reason");
    INTERN(s_limit_a, "limit_a");
    INTERN(s_panel_id, "panel_id");
    INTERN(s_phases, "phases");
    INTERN(s_stale_cap, "_stale_cap");
    INTERN(s_no_increase, "_no_increase");
    INTERN(s_floor, "_floor");
    INTERN(s_available_a, "available_a");
    INTERN(s_measured_a, "measured_a");
    INTERN(s_stale, "stale");
    INTERN(s_shed, "shed");
    INTERN(s_capacity_a, "capacity_a");
    INTERN(s_admitted_since, "admitted_since");
    INTERN(s_paused_since, "paused_since");
    INTERN(s_energy_wh, "energy_wh");
    INTERN(s_session_start, "session_start");
#undef INTERN
    PyObject *d[8] = {s_active, s_access_closed, s_delayed, s_charge_now, s_ev_max_a,
                      s_ev_phases, s_weight, s_priority};
    memcpy(demand_names, d, sizeof d);
    PyObject *l[4] = {s_limit_a, s_reason, s_panel_id, s_phases};
    memcpy(limit_names, l, sizeof l);
    const char *fields[6] = {"charger_id", "connector_id", "limit_a", "reason", "panel_id",
                             "phases"};
    for (int k = 0; k < 6; k++)
        if ((limit_fields[k] = PyUnicode_InternFromString(fields[k])) == NULL) return -1;
    entry_names[0] = s_admitted_since;
    entry_names[1] = s_paused_since;
    cand_names[0] = s_energy_wh;
    cand_names[1] = s_session_start;
    if ((one_obj = PyLong_FromLong(1)) == NULL) return -1;
    if ((zero_float = PyFloat_FromDouble(0.0)) == NULL) return -1;
    return 0;
}

PyMODINIT_FUNC
PyInit__native(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    if (intern_names() < 0) return NULL;
    return PyModule_Create(&native_module);
}
