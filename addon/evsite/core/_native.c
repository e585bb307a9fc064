/* Compiled inner loops of the allocator (evsite.core.native).
 *
 * Each function here is a line-for-line port of a pure-Python reference in
 * evsite/core (named in its docstring): the same floating-point operations in
 * the same order, so the results are bit-identical (tests/core/test_native.py
 * compares the two on random inputs). The Python versions stay the
 * specification and the fallback where no C compiler was available.
 *
 * No I/O, no global state: pure functions over Python lists and tuples.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
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
    size_t h = ((size_t)key >> 4) * 0x9E3779B97F4A7C15ULL;
    size_t i = (h ^ (h >> 29)) & m->mask;
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
    char *state, *saturated, *written;
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
            run->written[i] = 1;
        }
        else if (st == ST_WAIT) {
            run->rates[i] = run->floors[i];
            run->binding[i] = CAPPED;
            run->written[i] = 1;
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
            run->written[i] = 1;
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

    PyObject *members_f = NULL, *resources_f = NULL;
    Run run;
    memset(&run, 0, sizeof run);
    Gain gain;
    memset(&gain, 0, sizeof gain);
    IdMap ids = {NULL, NULL, 0};
    SortItem *sorted = NULL;
    Py_ssize_t *m_idx = NULL;
    PyObject *result = NULL;

    members_f = PySequence_Fast(members_o, "members");
    if (members_f == NULL) goto done;
    Py_ssize_t n_members = PySequence_Fast_GET_SIZE(members_f);
    if (n_members == 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    resources_f = PySequence_Fast(resources_o, "resources");
    if (resources_f == NULL) goto done;
    Py_ssize_t n = PySequence_Size(weights_o);
    if (n < 0) goto done;
    Py_ssize_t n_res = PyList_GET_SIZE(room_o);
    run.n = n;
    run.n_res = n_res;
    if (PySequence_Fast_GET_SIZE(resources_f) < n || PyList_GET_SIZE(rates_o) < n
        || PyList_GET_SIZE(binding_o) < n) {
        PyErr_SetString(PyExc_ValueError, "flow columns are shorter than weights");
        goto done;
    }
    run.weights = read_doubles(weights_o, n, "weights");
    if (run.weights == NULL) goto done;
    run.floors = read_doubles(floors_o, n, "floors");
    if (run.floors == NULL) goto done;
    run.uppers = read_doubles(uppers_o, n, "uppers");
    if (run.uppers == NULL) goto done;
    if (PySequence_Size(counts_o) == 0) {
        double *ones = PyMem_Malloc((size_t)n * sizeof(double));
        if (ones == NULL) { PyErr_NoMemory(); goto done; }
        for (Py_ssize_t i = 0; i < n; i++) ones[i] = 1.0;
        run.counts = ones;
    }
    else {
        run.counts = read_doubles(counts_o, n, "counts");
        if (run.counts == NULL) goto done;
    }
    run.room = read_doubles(room_o, n_res, "room");
    if (run.room == NULL) goto done;
    run.rates = PyMem_Calloc((size_t)n, sizeof(double));
    run.cap = PyMem_Malloc((size_t)n * sizeof(double));
    run.binding = PyMem_Calloc((size_t)n, sizeof(long));
    run.state = PyMem_Calloc((size_t)n, 1);
    run.written = PyMem_Calloc((size_t)n, 1);
    run.group = PyMem_Calloc((size_t)n, sizeof(Py_ssize_t));
    run.load_w = PyMem_Calloc((size_t)(n_res ? n_res : 1), sizeof(double));
    run.saturated = PyMem_Calloc((size_t)(n_res ? n_res : 1), 1);
    m_idx = PyMem_Malloc((size_t)n_members * sizeof(Py_ssize_t));
    sorted = PyMem_Malloc((size_t)n_members * sizeof(SortItem));
    if (!run.rates || !run.cap || !run.binding || !run.state || !run.written
        || !run.group || !run.load_w || !run.saturated || !m_idx || !sorted) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) run.cap[i] = run.uppers[i] / run.weights[i];

    /* setup: the level starts where the lowest floor is reached */
    PyObject **m_items = PySequence_Fast_ITEMS(members_f);
    double start = 0.0;
    for (Py_ssize_t k = 0; k < n_members; k++) {
        Py_ssize_t i = PyLong_AsSsize_t(m_items[k]);
        if (i == -1 && PyErr_Occurred()) goto done;
        if (i < 0 || i >= n) {
            PyErr_Format(PyExc_IndexError, "member %zd out of range", i);
            goto done;
        }
        m_idx[k] = i;
        double s = run.floors[i] / run.weights[i];
        if (k == 0 || s < start) start = s;
        sorted[k].i = i;
        sorted[k].cap = run.cap[i];
        sorted[k].pos = k;
    }
    qsort(sorted, (size_t)n_members, sizeof(SortItem), sort_item_cmp);

    /* groups: flows whose resources are the same object */
    if (idmap_init(&ids, n_members) < 0) goto done;
    PyObject **res_items = PySequence_Fast_ITEMS(resources_f);
    Py_ssize_t *g_count = PyMem_Calloc((size_t)n_members + 1, sizeof(Py_ssize_t));
    PyObject **g_obj = PyMem_Malloc((size_t)n_members * sizeof(PyObject *));
    run.g_mem_start = PyMem_Calloc((size_t)n_members + 1, sizeof(Py_ssize_t));
    run.g_mem = PyMem_Malloc((size_t)n_members * sizeof(Py_ssize_t));
    if (!g_count || !g_obj || !run.g_mem_start || !run.g_mem) {
        PyMem_Free(g_count);
        PyMem_Free(g_obj);
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n_groups = 0;
    for (Py_ssize_t k = 0; k < n_members; k++) {
        Py_ssize_t i = sorted[k].i;
        PyObject *res = res_items[i];
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
    PyMem_Free(g_count);

    /* each group's resources, flattened */
    run.g_res_start = PyMem_Calloc((size_t)n_groups + 1, sizeof(Py_ssize_t));
    if (run.g_res_start == NULL) { PyMem_Free(g_obj); PyErr_NoMemory(); goto done; }
    Py_ssize_t total = 0;
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        Py_ssize_t len = PySequence_Size(g_obj[g]);
        if (len < 0) { PyMem_Free(g_obj); goto done; }
        total += len;
        run.g_res_start[g + 1] = total;
    }
    run.g_res = PyMem_Malloc((size_t)(total ? total : 1) * sizeof(Py_ssize_t));
    run.u_start = PyMem_Calloc((size_t)n_res + 2, sizeof(Py_ssize_t));
    run.users = PyMem_Malloc((size_t)(total ? total : 1) * sizeof(Py_ssize_t));
    if (!run.g_res || !run.u_start || !run.users) {
        PyMem_Free(g_obj);
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        PyObject *fast = PySequence_Fast(g_obj[g], "resources");
        if (fast == NULL) { PyMem_Free(g_obj); goto done; }
        PyObject **items = PySequence_Fast_ITEMS(fast);
        Py_ssize_t base = run.g_res_start[g];
        for (Py_ssize_t q = 0; q < PySequence_Fast_GET_SIZE(fast); q++) {
            Py_ssize_t r = PyLong_AsSsize_t(items[q]);
            if (r == -1 && PyErr_Occurred()) { Py_DECREF(fast); PyMem_Free(g_obj); goto done; }
            if (r < 0 || r >= n_res) {
                PyErr_Format(PyExc_IndexError, "resource %zd out of range", r);
                Py_DECREF(fast);
                PyMem_Free(g_obj);
                goto done;
            }
            run.g_res[base + q] = r;
            run.u_start[r + 2]++;
        }
        Py_DECREF(fast);
    }
    PyMem_Free(g_obj);
    /* users per resource, groups in ascending order (repeats kept) */
    for (Py_ssize_t r = 0; r < n_res; r++) run.u_start[r + 2] += run.u_start[r + 1];
    for (Py_ssize_t g = 0; g < n_groups; g++)
        for (Py_ssize_t q = run.g_res_start[g]; q < run.g_res_start[g + 1]; q++)
            run.users[run.u_start[run.g_res[q] + 1]++] = g;

    run.g_ptr = PyMem_Calloc((size_t)n_groups, sizeof(Py_ssize_t));
    run.g_w = PyMem_Calloc((size_t)n_groups, sizeof(double));
    run.g_done = PyMem_Calloc((size_t)n_groups, 1);
    double *shift = PyMem_Calloc((size_t)n_groups, sizeof(double));
    gain.order = PyMem_Malloc((size_t)n_groups * sizeof(Py_ssize_t));
    gain.w = PyMem_Malloc((size_t)n_groups * sizeof(double));
    gain.f = PyMem_Malloc((size_t)n_groups * sizeof(double));
    gain.mark = PyMem_Calloc((size_t)n_groups, sizeof(Py_ssize_t));
    gain.touched = PyMem_Malloc((size_t)(n_res ? n_res : 1) * sizeof(Py_ssize_t));
    gain.r_mark = PyMem_Calloc((size_t)(n_res ? n_res : 1), sizeof(Py_ssize_t));
    if (!run.g_ptr || !run.g_w || !run.g_done || !shift || !gain.order || !gain.w
        || !gain.f || !gain.mark || !gain.touched || !gain.r_mark) {
        PyMem_Free(shift);
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < n_members; k++) {
        Py_ssize_t i = sorted[k].i, g = run.group[i];
        double w = run.weights[i];
        if (run.floors[i] > (start + EPS) * w) { /* waits at its floor */
            run.state[i] = ST_WAIT;
            if (!floors_taken) shift[g] -= run.floors[i] * run.counts[i];
            if (heap_push(&run.heap, run.floors[i] / w, EV_ACTIVATE, i) < 0) {
                PyMem_Free(shift);
                goto done;
            }
        }
        else {
            run.state[i] = ST_ACTIVE;
            run.g_w[g] += w * run.counts[i];
            if (floors_taken) shift[g] += run.floors[i] * run.counts[i];
        }
    }
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        if (heap_push(&run.heap, run.cap[run.g_mem[run.g_mem_start[g]]], EV_CAP, g) < 0) {
            PyMem_Free(shift);
            goto done;
        }
    }
    for (Py_ssize_t g = 0; g < n_groups; g++) { /* _load */
        double w = run.g_w[g], delta = shift[g];
        for (Py_ssize_t q = run.g_res_start[g]; q < run.g_res_start[g + 1]; q++) {
            Py_ssize_t r = run.g_res[q];
            run.load_w[r] += w;
            run.room[r] += delta;
        }
    }
    PyMem_Free(shift);
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
        int rc;
        if (ev.kind == EV_SATURATE) rc = run_saturate(&run, ev.t, ev.idx, level);
        else if (ev.kind == EV_CAP) rc = run_cap_group(&run, ev.t, ev.idx);
        else rc = run_activate(&run, &gain, ev.t, ev.idx, level);
        if (rc < 0) goto done;
    }

    /* write back: the members' rates and bindings, and the room of used resources */
    for (Py_ssize_t k = 0; k < n_members; k++) {
        Py_ssize_t i = m_idx[k];
        if (!run.written[i]) continue;
        run.written[i] = 0;
        PyObject *rate = PyFloat_FromDouble(run.rates[i]);
        PyObject *bind = PyLong_FromLong(run.binding[i]);
        if (rate == NULL || bind == NULL) {
            Py_XDECREF(rate);
            Py_XDECREF(bind);
            goto done;
        }
        PyObject *old = PyList_GET_ITEM(rates_o, i);
        PyList_SET_ITEM(rates_o, i, rate);
        Py_DECREF(old);
        old = PyList_GET_ITEM(binding_o, i);
        PyList_SET_ITEM(binding_o, i, bind);
        Py_DECREF(old);
    }
    for (Py_ssize_t r = 0; r < n_res; r++) {
        if (run.u_start[r + 1] == run.u_start[r]) continue;
        PyObject *value = PyFloat_FromDouble(run.room[r]);
        if (value == NULL) goto done;
        PyObject *old = PyList_GET_ITEM(room_o, r);
        PyList_SET_ITEM(room_o, r, value);
        Py_DECREF(old);
    }
    result = Py_None;
    Py_INCREF(result);

done:
    Py_XDECREF(members_f);
    Py_XDECREF(resources_f);
    PyMem_Free((void *)run.weights);
    PyMem_Free((void *)run.floors);
    PyMem_Free((void *)run.uppers);
    PyMem_Free((void *)run.counts);
    PyMem_Free(run.room);
    PyMem_Free(run.rates);
    PyMem_Free(run.cap);
    PyMem_Free(run.binding);
    PyMem_Free(run.state);
    PyMem_Free(run.written);
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
    PyMem_Free(m_idx);
    return result;
}

/* ---- classification (evsite.core.flowbuild.FlowBuilder.add_all) --------- */

/* Interned attribute and method names, made once at import. */
static PyObject *s_active, *s_access_closed, *s_delayed, *s_charge_now, *s_ev_max_a;
static PyObject *s_ev_phases, *s_weight, *s_priority, *s_online, *s_controllable;
static PyObject *s_maintenance, *s_offline_allocation_a, *s_reason, *s_limit_a;
static PyObject *s_panel_id, *s_phases, *s_not_steered, *s_stale_cap, *s_competing;
static PyObject *s_circuit, *s_no_increase, *s_floor, *s_limit_of;
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

/* One merged flow's key, compared like the Python tuple key (== per field). */
typedef struct {
    Py_ssize_t path, circuit;
    double weight, floor, upper;
    PyObject *reason; /* a Reason member: compared by identity */
    long long prio;
    Py_hash_t hash;
} FlowKey;

typedef struct {
    FlowKey *keys;
    Py_ssize_t *fids;
    size_t mask;
    Py_ssize_t len;
} FlowMap;

static inline uint64_t
mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    return h;
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
flowmap_init(FlowMap *m, Py_ssize_t n)
{
    size_t size = 64;
    while (size < (size_t)n * 2) size <<= 1;
    m->keys = PyMem_Malloc(size * sizeof(FlowKey));
    m->fids = PyMem_Malloc(size * sizeof(Py_ssize_t));
    if (m->keys == NULL || m->fids == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < size; i++) m->fids[i] = -1;
    m->mask = size - 1;
    m->len = 0;
    return 0;
}

static int
flowmap_grow(FlowMap *m)
{
    size_t old_size = m->mask + 1, size = old_size * 2;
    FlowKey *keys = PyMem_Malloc(size * sizeof(FlowKey));
    Py_ssize_t *fids = PyMem_Malloc(size * sizeof(Py_ssize_t));
    if (keys == NULL || fids == NULL) {
        PyMem_Free(keys);
        PyMem_Free(fids);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < size; i++) fids[i] = -1;
    for (size_t i = 0; i < old_size; i++) {
        if (m->fids[i] < 0) continue;
        size_t j = (size_t)m->keys[i].hash & (size - 1);
        while (fids[j] >= 0) j = (j + 1) & (size - 1);
        keys[j] = m->keys[i];
        fids[j] = m->fids[i];
    }
    PyMem_Free(m->keys);
    PyMem_Free(m->fids);
    m->keys = keys;
    m->fids = fids;
    m->mask = size - 1;
    return 0;
}

/* The flow id of ``k``, or -1 after inserting it with id ``new_fid``. */
static Py_ssize_t
flowmap_get_or_add(FlowMap *m, FlowKey *k, Py_ssize_t new_fid)
{
    uint64_t h = 1469598103934665603ULL;
    h = mix(h, (uint64_t)k->path);
    h = mix(h, (uint64_t)k->circuit);
    h = mix(h, dbits(k->weight));
    h = mix(h, dbits(k->floor));
    h = mix(h, dbits(k->upper));
    h = mix(h, (uint64_t)(uintptr_t)k->reason);
    h = mix(h, (uint64_t)k->prio);
    k->hash = (Py_hash_t)(h ^ (h >> 31));
    size_t i = (size_t)k->hash & m->mask;
    while (m->fids[i] >= 0) {
        FlowKey *o = &m->keys[i];
        if (o->hash == k->hash && o->path == k->path && o->circuit == k->circuit
            && o->weight == k->weight && o->floor == k->floor && o->upper == k->upper
            && o->reason == k->reason && o->prio == k->prio)
            return m->fids[i];
        i = (i + 1) & m->mask;
    }
    m->keys[i] = *k;
    m->fids[i] = new_fid;
    m->len++;
    return -1;
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
"``reasons``: (NOT_CHARGING, SCOPE_CLOSED, DELAYED, CHARGER_MAX, EV_MAX).\n"
"Rare rows (charger states, stale meters, shared circuits) call the builder's\n"
"own methods, as the Python loop does.");

static PyObject *
classify(PyObject *self, PyObject *args)
{
    PyObject *builder, *rows, *reasons, *new_limit;
    if (!PyArg_ParseTuple(args, "OO!O!O", &builder, &PyTuple_Type, &rows, &PyTuple_Type,
                          &reasons, &new_limit))
        return NULL;
    if (PyTuple_GET_SIZE(reasons) != 5) {
        PyErr_SetString(PyExc_ValueError, "reasons: expected 5 Reason members");
        return NULL;
    }
    PyObject *r_not_charging = PyTuple_GET_ITEM(reasons, 0);
    PyObject *r_scope_closed = PyTuple_GET_ITEM(reasons, 1);
    PyObject *r_delayed = PyTuple_GET_ITEM(reasons, 2);
    PyObject *r_charger_max = PyTuple_GET_ITEM(reasons, 3);
    PyObject *r_ev_max = PyTuple_GET_ITEM(reasons, 4);

    PyObject *snap = NULL, *states = NULL, *demands = NULL, *stale_panels = NULL;
    PyObject *before = NULL, *floors = NULL, *fixed = NULL, *flows = NULL;
    PyObject *counts = NULL, *keys = NULL, *flow_of = NULL;
    PyObject *cols[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    PyObject *result = NULL;
    FlowMap fmap = {NULL, NULL, 0, 0};
    /* Per flow: its count, kept in C and written once at the end. */
    Py_ssize_t *fcount = NULL, fcap = 0, n_flows = 0;

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
    if (flowmap_init(&fmap, 256) < 0) goto done;

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
            if (!online || !controllable || maintenance) {
                PyObject *r = PyObject_CallMethodObjArgs(
                    builder, s_not_steered, row, online ? Py_True : Py_False,
                    controllable ? Py_True : Py_False, NULL);
                Py_DECREF(state);
                if (r == NULL) goto done;
                Py_DECREF(r);
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
            PyObject *n = PyObject_CallMethodObjArgs(builder, s_competing, ckeys, NULL);
            if (n == NULL) goto row_fail;
            long competing = PyLong_AsLong(n);
            Py_DECREF(n);
            if (competing == -1 && PyErr_Occurred()) goto row_fail;
            if (competing > 1) {
                PyObject *first = PyObject_CallMethodObjArgs(builder, s_circuit, phases,
                                                             cap, cap_reason, NULL);
                if (first == NULL) goto row_fail;
                circuit = PyLong_AsSsize_t(first);
                Py_DECREF(first);
                if (circuit == -1 && PyErr_Occurred()) goto row_fail;
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
                int t = attr_true(demand, s_active);
                if (t < 0) goto demand_fail;
                if (!t) {
                    reason = r_not_charging;
                }
                else if ((t = attr_true(demand, s_access_closed)) != 0) {
                    if (t < 0) goto demand_fail;
                    reason = r_scope_closed;
                }
                else if ((t = attr_true(demand, s_delayed)) != 0) {
                    if (t < 0) goto demand_fail;
                    int now = attr_true(demand, s_charge_now);
                    if (now < 0) goto demand_fail;
                    if (!now) reason = r_delayed;
                }
            }
            if (reason == NULL) { /* competing: upper bound, then its flow */
                PyObject *upper_o = Py_NewRef(cap), *up_reason = cap_reason;
                double upper = cap_d;
                PyObject *ev_max = PyObject_GetAttr(demand, s_ev_max_a);
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
                PyObject *ev_phases = PyObject_GetAttr(demand, s_ev_phases);
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
                    PyObject *up = PyFloat_FromDouble(0.0);
                    PyObject *lim = up == NULL ? NULL
                        : PyObject_CallMethodObjArgs(builder, s_limit_of, key, up, up_reason,
                                                     Py_None, one ? one_ph : phases, NULL);
                    Py_XDECREF(up);
                    Py_DECREF(floor_o);
                    Py_XDECREF(held_reason);
                    if (lim == NULL) goto demand_fail;
                    int rc = PyDict_SetItem(fixed, key, lim);
                    Py_DECREF(lim);
                    Py_DECREF(demand);
                    if (rc < 0) goto row_fail;
                    continue;
                }
                PyObject *weight = PyObject_GetAttr(demand, s_weight);
                PyObject *priority = weight == NULL ? NULL
                                                    : PyObject_GetAttr(demand, s_priority);
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
                Py_ssize_t fid = flowmap_get_or_add(&fmap, &fk, n_flows);
                int rc = 0;
                if (fid < 0) { /* a new flow: its key becomes the columns' row */
                    fid = n_flows++;
                    if (n_flows > fcap) {
                        Py_ssize_t size = fcap ? fcap * 2 : 256;
                        Py_ssize_t *grown = PyMem_Realloc(fcount, (size_t)size * sizeof(Py_ssize_t));
                        if (grown == NULL) { PyErr_NoMemory(); rc = -1; }
                        else { fcount = grown; fcap = size; }
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
                    if (rc == 0 && (size_t)fmap.len * 2 > fmap.mask && flowmap_grow(&fmap) < 0)
                        rc = -1;
                }
                Py_DECREF(weight);
                Py_DECREF(priority);
                Py_DECREF(floor_o);
                Py_XDECREF(held_reason);
                Py_DECREF(demand);
                if (rc < 0) goto row_fail;
                fcount[fid]++;
                if (PyList_Append(keys, key) < 0
                    || append_new(flow_of, PyLong_FromSsize_t(fid)) < 0)
                    goto row_fail;
                continue;
            }
            Py_XDECREF(demand);
            /* fixed at 0 A: idle connectors mostly stay idle, reuse the old value */
            PyObject *old = map_get(before, key);
            if (old == NULL && PyErr_Occurred()) goto row_fail;
            int same = 0;
            if (old != NULL) {
                PyObject *o_reason = PyObject_GetAttr(old, s_reason);
                PyObject *o_limit = o_reason ? PyObject_GetAttr(old, s_limit_a) : NULL;
                PyObject *o_panel = o_limit ? PyObject_GetAttr(old, s_panel_id) : NULL;
                PyObject *o_phases = o_panel ? PyObject_GetAttr(old, s_phases) : NULL;
                if (o_phases == NULL) {
                    same = -1;
                }
                else if (o_reason == reason && o_panel == Py_None) {
                    double lim = PyFloat_AsDouble(o_limit);
                    if (lim == -1.0 && PyErr_Occurred()) same = -1;
                    else if (lim == 0.0)
                        same = PyObject_RichCompareBool(o_phases, phases, Py_EQ);
                }
                Py_XDECREF(o_reason);
                Py_XDECREF(o_limit);
                Py_XDECREF(o_panel);
                Py_XDECREF(o_phases);
                if (same < 0) { Py_DECREF(old); goto row_fail; }
            }
            if (!same) {
                Py_XDECREF(old);
                PyObject *zero = PyFloat_FromDouble(0.0);
                old = zero == NULL ? NULL
                    : PyObject_CallFunctionObjArgs(new_limit, PyTuple_GET_ITEM(key, 0),
                                                   PyTuple_GET_ITEM(key, 1), zero, reason,
                                                   Py_None, phases, NULL);
                Py_XDECREF(zero);
                if (old == NULL) goto row_fail;
            }
            int rc = PyDict_SetItem(fixed, key, old);
            Py_DECREF(old);
            if (rc < 0) goto row_fail;
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
    PyMem_Free(fmap.keys);
    PyMem_Free(fmap.fids);
    PyMem_Free(fcount);
    return result;
}

static PyMethodDef native_methods[] = {
    {"fill_into", fill_into, METH_VARARGS, fill_into_doc},
    {"classify", classify, METH_VARARGS, classify_doc},
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
    INTERN(s_not_steered, "_not_steered");
    INTERN(s_stale_cap, "_stale_cap");
    INTERN(s_competing, "_competing");
    INTERN(s_circuit, "_circuit");
    INTERN(s_no_increase, "_no_increase");
    INTERN(s_floor, "_floor");
    INTERN(s_limit_of, "limit_of");
#undef INTERN
    if ((one_obj = PyLong_FromLong(1)) == NULL) return -1;
    if ((zero_float = PyFloat_FromDouble(0.0)) == NULL) return -1;
    return 0;
}

PyMODINIT_FUNC
PyInit__native(void)
{
    if (intern_names() < 0) return NULL;
    return PyModule_Create(&native_module);
}
