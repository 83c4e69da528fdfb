/*
 * cachekit_native._speedups: the decorator's sync hit in one crossing (no ctypes).
 *
 * A HitPath is the callable that replaces a decorated sync function. It takes the key from the
 * function's memo when the positional arguments are all exact scalars (else from Python's
 * key_for), enters the cache's in-flight count, calls cachekit_cache_get through the address
 * ctypes resolved (so the extension never links libcachekit itself), copies the document out
 * and leaves. Keyword arguments, a closed or missing cache, a miss, an error status and a
 * document that does not decode go to the Python code of _function.py (the whole wrapper, or
 * its finish()), which stays the one definition of what those mean. The GIL is released around the library call only when the
 * cache has Redis: an L1-only get never blocks.
 *
 * The decoded-value memo: a hit whose document is byte-equal to the last one decoded for that
 * key returns a copy of that decoded value instead of decoding again. Decoding is a pure
 * function of the bytes, and the copy rebuilds every dict and list (the only mutable types a
 * document decodes to) while sharing the immutable leaves, so the caller gets what a fresh
 * decode gives: its own containers, equal values. The library still answers every hit (TTL,
 * invalidation and tracking stay its job); only the decode is saved. Values holding anything
 * but dicts, lists and the leaf types given at construction are never memoized.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cachekit.h"

/* The library's entry points, typed from the header so a signature change fails the build. */
static __typeof__(&cachekit_cache_get) lib_cache_get;
static __typeof__(&cachekit_buffer_free) lib_buffer_free;
static __typeof__(&cachekit_cache_set) lib_cache_set;

/* A memoized value is at most this deep, its document at most this long, and one function keeps
 * at most this many documents' bytes decoded (the memo is emptied when a new one would pass it). */
#define VALUE_DEPTH_MAX 32
#define VALUE_DOCUMENT_MAX (64 * 1024)
#define VALUES_BYTES_MAX (4 * 1024 * 1024)
#define VALUES_COUNT_MAX 4096

static PyObject *str_cache, *str_calls, *str_in_flight, *str_closed, *str_handle, *str_value, *str_settings,
    *str_has_l2, *str_completions, *str_last_operation_at, *str_release;

typedef struct {
    PyObject_HEAD
    PyObject *state;       /* the CachedFunction */
    PyObject *memo;        /* dict: (argument types, arguments) -> key bytes */
    PyObject *slow;        /* the pure-Python wrapper: the whole call path */
    PyObject *key_for;     /* key_for(args, kwargs) -> key bytes, or None: run uncached */
    PyObject *func;        /* the decorated function */
    PyObject *finish;      /* finish(cache, key, args, kwargs, status, document, seen) */
    PyObject *unpack;      /* unpack(document, key) -> value */
    PyObject *after_hit;   /* after_hit(state, cache, key, args, kwargs), or None */
    PyObject *values;      /* dict: key -> (document, value, flat), or None (no memo: secure mode) */
    PyObject *leaf_types;  /* tuple of the exact immutable types a memoized value may hold */
    Py_ssize_t values_bytes;
    /* The cache last seen in state.cache, with its _Calls, in-flight list and raw handle. */
    PyObject *cache;
    PyObject *calls;
    PyObject *in_flight;
    cachekit_cache *handle;
    int release_gil;
    PyObject *dict;
    PyObject *weakrefs;
} HitPath;

static int is_scalar_type(PyTypeObject *type) {
    return type == &PyLong_Type || type == &PyUnicode_Type || type == &PyBytes_Type || type == &PyBool_Type ||
           type == &PyFloat_Type || type == Py_TYPE(Py_None);
}

static int is_leaf(HitPath *self, PyObject *value) {
    PyTypeObject *type = Py_TYPE(value);
    if (is_scalar_type(type)) return 1;
    Py_ssize_t count = PyTuple_GET_SIZE(self->leaf_types);
    for (Py_ssize_t index = 0; index < count; index++)
        if ((PyObject *)type == PyTuple_GET_ITEM(self->leaf_types, index)) return 1;
    return 0;
}

/* 1 when value is dicts and lists over leaves only (so copy_value gives a fresh decode's
 * equal), 0 otherwise; *flat is cleared when a container holds a container. */
static int memoizable(HitPath *self, PyObject *value, int depth, int *flat) {
    if (depth > VALUE_DEPTH_MAX) return 0;
    if (PyDict_CheckExact(value)) {
        Py_ssize_t position = 0;
        PyObject *key, *item;
        while (PyDict_Next(value, &position, &key, &item)) {
            if (!is_leaf(self, key)) return 0;
            if (PyDict_CheckExact(item) || PyList_CheckExact(item)) {
                *flat = 0;
                if (!memoizable(self, item, depth + 1, flat)) return 0;
            } else if (!is_leaf(self, item)) {
                return 0;
            }
        }
        return 1;
    }
    if (PyList_CheckExact(value)) {
        for (Py_ssize_t index = 0; index < PyList_GET_SIZE(value); index++) {
            PyObject *item = PyList_GET_ITEM(value, index);
            if (PyDict_CheckExact(item) || PyList_CheckExact(item)) {
                *flat = 0;
                if (!memoizable(self, item, depth + 1, flat)) return 0;
            } else if (!is_leaf(self, item)) {
                return 0;
            }
        }
        return 1;
    }
    return is_leaf(self, value);
}

/* New dicts and lists all the way down, the leaves shared (they are immutable). Only called on
 * values memoizable() accepted, so every container is an exact dict or list. */
static PyObject *copy_value(PyObject *value) {
    if (PyDict_CheckExact(value)) {
        PyObject *copy = PyDict_Copy(value);
        if (copy == NULL) return NULL;
        Py_ssize_t position = 0;
        PyObject *key, *item;
        while (PyDict_Next(value, &position, &key, &item)) {
            if (!PyDict_CheckExact(item) && !PyList_CheckExact(item)) continue;
            PyObject *inner = copy_value(item);
            if (inner == NULL || PyDict_SetItem(copy, key, inner) < 0) {
                Py_XDECREF(inner);
                Py_DECREF(copy);
                return NULL;
            }
            Py_DECREF(inner);
        }
        return copy;
    }
    if (PyList_CheckExact(value)) {
        Py_ssize_t count = PyList_GET_SIZE(value);
        PyObject *copy = PyList_New(count);
        if (copy == NULL) return NULL;
        for (Py_ssize_t index = 0; index < count; index++) {
            PyObject *item = PyList_GET_ITEM(value, index);
            PyObject *inner = (PyDict_CheckExact(item) || PyList_CheckExact(item)) ? copy_value(item) : Py_NewRef(item);
            if (inner == NULL) {
                Py_DECREF(copy);
                return NULL;
            }
            PyList_SET_ITEM(copy, index, inner);
        }
        return copy;
    }
    return Py_NewRef(value);
}

/* A shallow copy suffices when no container holds another. */
static PyObject *copy_memoized(PyObject *value, int flat) {
    if (flat && PyDict_CheckExact(value)) return PyDict_Copy(value);
    if (flat && PyList_CheckExact(value)) return PyList_GetSlice(value, 0, PyList_GET_SIZE(value));
    return copy_value(value);
}

/* Binds self to state.cache (a new Cache after close or fork): its _Calls, the in-flight list,
 * the raw handle and whether it has Redis. 0 when bound, 1 when this cache cannot take the
 * fast path (the caller takes the slow one), -1 with an exception. */
static int bind_cache(HitPath *self, PyObject *cache) {
    PyObject *calls = PyObject_GetAttr(cache, str_calls);
    if (calls == NULL) return -1;
    PyObject *in_flight = PyObject_GetAttr(calls, str_in_flight);
    PyObject *handle = in_flight ? PyObject_GetAttr(calls, str_handle) : NULL;
    PyObject *address = (handle && handle != Py_None) ? PyObject_GetAttr(handle, str_value) : NULL;
    PyObject *settings = PyObject_GetAttr(self->state, str_settings);
    PyObject *has_l2 = settings ? PyObject_GetAttr(settings, str_has_l2) : NULL;
    int result = -1;
    if (in_flight == NULL || handle == NULL || settings == NULL || has_l2 == NULL) goto done;
    if (!PyList_CheckExact(in_flight) || address == NULL || !PyLong_Check(address)) {
        PyErr_Clear();
        result = 1;  /* closed already, or not the shape this code knows: the Python path decides */
        goto done;
    }
    void *pointer = PyLong_AsVoidPtr(address);
    if (pointer == NULL) {
        PyErr_Clear();
        result = 1;
        goto done;
    }
    int release = PyObject_IsTrue(has_l2);
    if (release < 0) goto done;
    Py_XSETREF(self->cache, Py_NewRef(cache));
    Py_XSETREF(self->calls, Py_NewRef(calls));
    Py_XSETREF(self->in_flight, Py_NewRef(in_flight));
    self->handle = pointer;
    self->release_gil = release;
    result = 0;
done:
    Py_XDECREF(calls);
    Py_XDECREF(in_flight);
    Py_XDECREF(handle);
    Py_XDECREF(address);
    Py_XDECREF(settings);
    Py_XDECREF(has_l2);
    return result;
}

/* Leaves the in-flight count: the last call out of a closed cache frees it (cache.py _Calls). */
static int leave(PyObject *calls, PyObject *in_flight) {
    Py_ssize_t size = PyList_GET_SIZE(in_flight);
    if (size > 0 && PyList_SetSlice(in_flight, size - 1, size, NULL) < 0) return -1;
    PyObject *closed = PyObject_GetAttr(calls, str_closed);
    if (closed == NULL) return -1;
    int is_closed = PyObject_IsTrue(closed);
    Py_DECREF(closed);
    if (is_closed < 0) return -1;
    if (is_closed && PyList_GET_SIZE(in_flight) == 0) {
        PyObject *released = PyObject_CallMethodNoArgs(calls, str_release);
        if (released == NULL) return -1;
        Py_DECREF(released);
    }
    return 0;
}

/* leave() while an exception is pending: the pending one is what the caller sees. */
static void leave_keeping_error(PyObject *calls, PyObject *in_flight) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (leave(calls, in_flight) < 0) PyErr_Clear();
    PyErr_Restore(type, value, traceback);
}

/* Enters the in-flight count, then checks closed, as _Calls.enter: a close either is seen here
 * or waits for this call. 0 entered, 1 closed (left again), -1 with an exception (left again). */
static int enter(PyObject *calls, PyObject *in_flight) {
    if (PyList_Append(in_flight, Py_None) < 0) return -1;
    PyObject *closed = PyObject_GetAttr(calls, str_closed);
    int is_closed = closed ? PyObject_IsTrue(closed) : -1;
    Py_XDECREF(closed);
    if (is_closed == 0) return 0;
    if (is_closed < 0) {
        leave_keeping_error(calls, in_flight);
        return -1;
    }
    return leave(calls, in_flight) < 0 ? -1 : 1;
}

static PyObject *memo_key_of(HitPath *self, PyObject *args) {
    Py_ssize_t count = PyTuple_GET_SIZE(args);
    PyObject *types = PyTuple_New(count);
    if (types == NULL) return NULL;
    for (Py_ssize_t index = 0; index < count; index++) {
        PyTypeObject *type = Py_TYPE(PyTuple_GET_ITEM(args, index));
        if (!is_scalar_type(type)) {
            Py_DECREF(types);
            return Py_NewRef(Py_None);
        }
        PyTuple_SET_ITEM(types, index, Py_NewRef((PyObject *)type));
    }
    PyObject *memo_key = PyTuple_Pack(2, types, args);
    Py_DECREF(types);
    return memo_key;
}

/* A hit's value from the memo when the document is the one memoized: a new reference, or NULL
 * with no exception when there is none to give. */
static PyObject *memoized_value(HitPath *self, PyObject *key, const cachekit_buffer *out) {
    if (self->values == Py_None) return NULL;
    PyObject *entry = PyDict_GetItemWithError(self->values, key);
    if (entry == NULL || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 3) return NULL;
    PyObject *document = PyTuple_GET_ITEM(entry, 0);
    if (!PyBytes_CheckExact(document) || (size_t)PyBytes_GET_SIZE(document) != out->len ||
        memcmp(PyBytes_AS_STRING(document), out->data, out->len) != 0)
        return NULL;
    Py_INCREF(entry);  /* another thread may replace it while the copy runs Python allocations */
    PyObject *copy = copy_memoized(PyTuple_GET_ITEM(entry, 1), PyTuple_GET_ITEM(entry, 2) == Py_True);
    Py_DECREF(entry);
    return copy;
}

/* Keeps value as the decode of document when it qualifies: 1 when kept (the caller then hands
 * out a copy), 0 when not; errors are cleared (it is a cache). */
static int memoize_value(HitPath *self, PyObject *key, PyObject *document, PyObject *value) {
    if (self->values == Py_None) return 0;
    Py_ssize_t size = PyBytes_GET_SIZE(document);
    int flat = 1;
    if (size > VALUE_DOCUMENT_MAX || !memoizable(self, value, 0, &flat)) return 0;
    Py_ssize_t previous = 0;
    PyObject *old = PyDict_GetItemWithError(self->values, key);
    if (old != NULL && PyTuple_CheckExact(old) && PyTuple_GET_SIZE(old) == 3 && PyBytes_Check(PyTuple_GET_ITEM(old, 0)))
        previous = PyBytes_GET_SIZE(PyTuple_GET_ITEM(old, 0));
    if (self->values_bytes - previous + size > VALUES_BYTES_MAX ||
        (old == NULL && PyDict_GET_SIZE(self->values) >= VALUES_COUNT_MAX)) {
        PyDict_Clear(self->values);
        self->values_bytes = previous = 0;
    }
    PyObject *entry = PyTuple_Pack(3, document, value, flat ? Py_True : Py_False);
    if (entry == NULL || PyDict_SetItem(self->values, key, entry) < 0) {
        Py_XDECREF(entry);
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(entry);
    self->values_bytes += size - previous;
    return 1;
}

static double wall_clock(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);  /* what time.time() reads */
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static PyObject *hit_path_call(PyObject *object, PyObject *args, PyObject *kwargs) {
    HitPath *self = (HitPath *)object;
    if (self->state == NULL) {
        PyErr_SetString(PyExc_TypeError, "HitPath called before __init__");
        return NULL;
    }
    if ((kwargs != NULL && PyDict_GET_SIZE(kwargs) > 0) || lib_cache_get == NULL)
        return PyObject_Call(self->slow, args, kwargs);
    PyObject *memo_key = memo_key_of(self, args);
    if (memo_key == NULL) return NULL;
    PyObject *key = memo_key == Py_None ? NULL : PyDict_GetItemWithError(self->memo, memo_key);
    Py_DECREF(memo_key);
    if (key != NULL && PyBytes_CheckExact(key)) {
        Py_INCREF(key);  /* the memo may be cleared by another thread while the GIL is released */
    } else {
        if (PyErr_Occurred()) return NULL;
        /* Not memoized (a miss, mostly): the key from Python, then the same lookup. */
        PyObject *keywords = kwargs ? Py_NewRef(kwargs) : PyDict_New();
        key = keywords ? PyObject_CallFunctionObjArgs(self->key_for, args, keywords, NULL) : NULL;
        Py_XDECREF(keywords);
        if (key == NULL) return NULL;
        if (key == Py_None) {
            Py_DECREF(key);
            return PyObject_Call(self->func, args, kwargs);  /* cannot be keyed: runs uncached */
        }
        if (!PyBytes_CheckExact(key)) {
            Py_DECREF(key);
            PyErr_SetString(PyExc_TypeError, "HitPath: key_for must return bytes or None");
            return NULL;
        }
    }

    PyObject *result = NULL, *cache = NULL, *calls = NULL, *in_flight = NULL, *seen = NULL, *document = NULL;
    cache = PyObject_GetAttr(self->state, str_cache);
    if (cache == NULL) goto done;
    if (cache != self->cache) {
        int bound = cache == Py_None ? 1 : bind_cache(self, cache);
        if (bound != 0) {
            if (bound > 0) result = PyObject_Call(self->slow, args, kwargs);
            goto done;
        }
    }
    calls = Py_NewRef(self->calls);
    in_flight = Py_NewRef(self->in_flight);
    cachekit_cache *handle = self->handle;
    int release_gil = self->release_gil;

    int entered = enter(calls, in_flight);
    if (entered != 0) {
        if (entered > 0) result = PyObject_Call(self->slow, args, kwargs);  /* closed: the Python path reopens */
        goto done;
    }
    seen = PyObject_GetAttr(self->state, str_completions);  /* read before the lookup (miss_sync) */
    PyObject *now = seen ? PyFloat_FromDouble(wall_clock()) : NULL;
    int stamped = now ? PyObject_SetAttr(self->state, str_last_operation_at, now) : -1;
    Py_XDECREF(now);
    if (stamped < 0) {
        leave_keeping_error(calls, in_flight);
        goto done;
    }

    cachekit_buffer out = {NULL, 0};
    int status;
    const uint8_t *key_data = (const uint8_t *)PyBytes_AS_STRING(key);
    size_t key_length = (size_t)PyBytes_GET_SIZE(key);
    if (release_gil) {
        Py_BEGIN_ALLOW_THREADS
        status = lib_cache_get(handle, key_data, key_length, &out);
        Py_END_ALLOW_THREADS
    } else {
        status = lib_cache_get(handle, key_data, key_length, &out);
    }
    PyObject *value = NULL;
    if (status == CACHEKIT_OK) {
        if (out.data == NULL && out.len != 0) {
            status = CACHEKIT_MISS;  /* not a buffer the library hands out; read as a miss */
        } else if (out.len > (size_t)PY_SSIZE_T_MAX) {
            PyErr_SetString(PyExc_OverflowError, "cachekit_cache_get returned a document too large for bytes");
        } else {
            value = memoized_value(self, key, &out);
            if (value == NULL && !PyErr_Occurred())
                document = PyBytes_FromStringAndSize((const char *)out.data, (Py_ssize_t)out.len);
        }
    }
    if (out.data != NULL) lib_buffer_free(&out);  /* also a status that filled it without meaning a hit */
    if (PyErr_Occurred()) {
        leave_keeping_error(calls, in_flight);
        Py_XDECREF(value);
        goto done;
    }
    if (leave(calls, in_flight) < 0) {
        Py_XDECREF(value);
        goto done;
    }
    if (value == NULL && document != NULL) {
        value = PyObject_CallFunctionObjArgs(self->unpack, document, key, NULL);
        if (value == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_Exception)) goto done;  /* KeyboardInterrupt and the like */
            PyErr_Clear();  /* finish() decodes again and handles the failure as the Python path does */
        } else if (memoize_value(self, key, document, value)) {
            PyObject *copy = copy_memoized(value, 0);  /* the kept decode is never handed out */
            Py_SETREF(value, copy);
            if (value == NULL) goto done;
        }
    }
    if (value != NULL) {
        if (self->after_hit != Py_None) {
            PyObject *keywords = kwargs ? Py_NewRef(kwargs) : PyDict_New();
            PyObject *ignored = keywords ? PyObject_CallFunctionObjArgs(self->after_hit, self->state, cache, key,
                                                                        args, keywords, NULL) : NULL;
            Py_XDECREF(keywords);
            if (ignored == NULL) {
                Py_DECREF(value);
                goto done;
            }
            Py_DECREF(ignored);
        }
        result = value;
        goto done;
    }
    PyObject *status_object = PyLong_FromLong(status);
    if (status_object == NULL) goto done;
    PyObject *keywords = kwargs ? Py_NewRef(kwargs) : PyDict_New();
    if (keywords != NULL)
        result = PyObject_CallFunctionObjArgs(self->finish, cache, key, args, keywords, status_object,
                                              document ? document : Py_None, seen, NULL);
    Py_XDECREF(keywords);
    Py_DECREF(status_object);
done:
    Py_DECREF(key);
    Py_XDECREF(cache);
    Py_XDECREF(calls);
    Py_XDECREF(in_flight);
    Py_XDECREF(seen);
    Py_XDECREF(document);
    return result;
}

static int hit_path_init(PyObject *object, PyObject *args, PyObject *kwargs) {
    HitPath *self = (HitPath *)object;
    static char *names[] = {"state", "memo", "slow", "key_for", "func", "finish", "unpack", "after_hit", "values",
                            "leaf_types", NULL};
    PyObject *state, *memo, *slow, *key_for, *func, *finish, *unpack, *after_hit, *values, *leaf_types;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO!OOOOOOOO!:HitPath", names, &state, &PyDict_Type, &memo, &slow,
                                     &key_for, &func, &finish, &unpack, &after_hit, &values, &PyTuple_Type,
                                     &leaf_types))
        return -1;
    if (!PyCallable_Check(slow) || !PyCallable_Check(key_for) || !PyCallable_Check(func) ||
        !PyCallable_Check(finish) || !PyCallable_Check(unpack) || (after_hit != Py_None && !PyCallable_Check(after_hit))) {
        PyErr_SetString(PyExc_TypeError,
                        "HitPath: slow, key_for, func, finish and unpack must be callable, after_hit callable or None");
        return -1;
    }
    if (values != Py_None && !PyDict_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "HitPath: values must be a dict or None");
        return -1;
    }
    for (Py_ssize_t index = 0; index < PyTuple_GET_SIZE(leaf_types); index++) {
        if (!PyType_Check(PyTuple_GET_ITEM(leaf_types, index))) {
            PyErr_SetString(PyExc_TypeError, "HitPath: leaf_types must hold types");
            return -1;
        }
    }
    Py_XSETREF(self->state, Py_NewRef(state));
    Py_XSETREF(self->memo, Py_NewRef(memo));
    Py_XSETREF(self->slow, Py_NewRef(slow));
    Py_XSETREF(self->key_for, Py_NewRef(key_for));
    Py_XSETREF(self->func, Py_NewRef(func));
    Py_XSETREF(self->finish, Py_NewRef(finish));
    Py_XSETREF(self->unpack, Py_NewRef(unpack));
    Py_XSETREF(self->after_hit, Py_NewRef(after_hit));
    Py_XSETREF(self->values, Py_NewRef(values));
    Py_XSETREF(self->leaf_types, Py_NewRef(leaf_types));
    Py_CLEAR(self->cache);
    Py_CLEAR(self->calls);
    Py_CLEAR(self->in_flight);
    self->values_bytes = 0;
    self->handle = NULL;
    return 0;
}

static int hit_path_traverse(PyObject *object, visitproc visit, void *arg) {
    HitPath *self = (HitPath *)object;
    Py_VISIT(Py_TYPE(object));
    Py_VISIT(self->state);
    Py_VISIT(self->memo);
    Py_VISIT(self->slow);
    Py_VISIT(self->key_for);
    Py_VISIT(self->func);
    Py_VISIT(self->finish);
    Py_VISIT(self->unpack);
    Py_VISIT(self->after_hit);
    Py_VISIT(self->values);
    Py_VISIT(self->leaf_types);
    Py_VISIT(self->cache);
    Py_VISIT(self->calls);
    Py_VISIT(self->in_flight);
    Py_VISIT(self->dict);
    return 0;
}

static int hit_path_clear(PyObject *object) {
    HitPath *self = (HitPath *)object;
    Py_CLEAR(self->state);
    Py_CLEAR(self->memo);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->key_for);
    Py_CLEAR(self->func);
    Py_CLEAR(self->finish);
    Py_CLEAR(self->unpack);
    Py_CLEAR(self->after_hit);
    Py_CLEAR(self->values);
    Py_CLEAR(self->leaf_types);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->calls);
    Py_CLEAR(self->in_flight);
    Py_CLEAR(self->dict);
    return 0;
}

static void hit_path_dealloc(PyObject *object) {
    HitPath *self = (HitPath *)object;
    PyTypeObject *type = Py_TYPE(object);
    PyObject_GC_UnTrack(object);
    if (self->weakrefs != NULL) PyObject_ClearWeakRefs(object);
    hit_path_clear(object);
    type->tp_free(object);
    Py_DECREF(type);
}

/* Bound like a function, so a decorated method receives self. */
static PyObject *hit_path_get(PyObject *object, PyObject *instance, PyObject *owner) {
    if (instance == NULL || instance == Py_None) return Py_NewRef(object);
    return PyMethod_New(object, instance);
}

/* Fields stay NULL until __init__; a call before it is a TypeError, not a crash. */
static PyObject *hit_path_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    HitPath *self = (HitPath *)type->tp_alloc(type, 0);
    return (PyObject *)self;
}

static PyObject *hit_path_forget(PyObject *object, PyObject *unused) {
    HitPath *self = (HitPath *)object;
    if (self->values != NULL && self->values != Py_None) PyDict_Clear(self->values);
    self->values_bytes = 0;
    Py_RETURN_NONE;
}

/* Pickled by reference, as the function it replaces: pickle then finds it as module.qualname. */
static PyObject *hit_path_reduce(PyObject *object, PyObject *unused) {
    return PyObject_GetAttrString(object, "__qualname__");
}

static PyObject *hit_path_repr(PyObject *object) {
    PyObject *name = PyObject_GetAttrString(object, "__qualname__");
    if (name == NULL) {
        PyErr_Clear();
        return PyUnicode_FromFormat("<cachekit_native cached function at %p>", object);
    }
    PyObject *text = PyUnicode_FromFormat("<cachekit_native cached function %S at %p>", name, object);
    Py_DECREF(name);
    return text;
}

static PyMethodDef hit_path_methods[] = {
    {"__reduce__", hit_path_reduce, METH_NOARGS, NULL},
    {"forget_values", hit_path_forget, METH_NOARGS, "Drops the decoded-value memo (invalidation, cache_clear)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef hit_path_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(HitPath, dict), READONLY, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(HitPath, weakrefs), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef hit_path_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot hit_path_slots[] = {
    {Py_tp_doc, "A decorated sync function's call: the hit in one crossing, the rest in Python."},
    {Py_tp_new, hit_path_new},
    {Py_tp_init, hit_path_init},
    {Py_tp_call, hit_path_call},
    {Py_tp_repr, hit_path_repr},
    {Py_tp_descr_get, hit_path_get},
    {Py_tp_traverse, hit_path_traverse},
    {Py_tp_clear, hit_path_clear},
    {Py_tp_dealloc, hit_path_dealloc},
    {Py_tp_methods, hit_path_methods},
    {Py_tp_members, hit_path_members},
    {Py_tp_getset, hit_path_getset},
    {0, NULL},
};

static PyType_Spec hit_path_spec = {
    .name = "cachekit_native._speedups.HitPath",
    .basicsize = sizeof(HitPath),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .slots = hit_path_slots,
};

/* bind(get, free, set): the addresses of cachekit_cache_get, cachekit_buffer_free and
 * cachekit_cache_set in the library ctypes loaded (ctypes.cast(cdll.x, c_void_p).value). */
static PyObject *speedups_bind(PyObject *module, PyObject *args) {
    PyObject *objects[3];
    void *addresses[3];
    if (!PyArg_ParseTuple(args, "O!O!O!:bind", &PyLong_Type, &objects[0], &PyLong_Type, &objects[1], &PyLong_Type,
                          &objects[2]))
        return NULL;
    for (int index = 0; index < 3; index++) {
        addresses[index] = PyLong_AsVoidPtr(objects[index]);
        if (addresses[index] == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bind: a function address is NULL");
            return NULL;
        }
    }
    lib_cache_get = (__typeof__(&cachekit_cache_get))addresses[0];
    lib_buffer_free = (__typeof__(&cachekit_buffer_free))addresses[1];
    lib_cache_set = (__typeof__(&cachekit_cache_set))addresses[2];
    Py_RETURN_NONE;
}

/* set(calls, key, value, ttl, release_gil): cachekit_cache_set under the _Calls in-flight count,
 * as Cache.set without ctypes' argument conversion. Returns the status, or None when the cache
 * was closed (the caller raises CacheClosedError). */
static PyObject *speedups_set(PyObject *module, PyObject *args) {
    PyObject *calls;
    Py_buffer key, value;
    long long ttl;
    int release_gil;
    if (!PyArg_ParseTuple(args, "Oy*y*Lp:set", &calls, &key, &value, &ttl, &release_gil)) return NULL;
    PyObject *result = NULL, *in_flight = NULL, *handle = NULL, *address = NULL;
    if (lib_cache_set == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "set: bind() has not run");
        goto done;
    }
    in_flight = PyObject_GetAttr(calls, str_in_flight);
    if (in_flight == NULL) goto done;
    if (!PyList_CheckExact(in_flight)) {
        PyErr_SetString(PyExc_TypeError, "set: calls.in_flight is not a list");
        goto done;
    }
    int entered = enter(calls, in_flight);
    if (entered != 0) {
        if (entered > 0) result = Py_NewRef(Py_None);  /* closed */
        goto done;
    }
    handle = PyObject_GetAttr(calls, str_handle);
    address = handle && handle != Py_None ? PyObject_GetAttr(handle, str_value) : NULL;
    void *pointer = address && PyLong_Check(address) ? PyLong_AsVoidPtr(address) : NULL;
    if (pointer == NULL) {
        if (PyErr_Occurred()) {
            leave_keeping_error(calls, in_flight);
        } else if (leave(calls, in_flight) == 0) {
            result = Py_NewRef(Py_None);  /* closed */
        }
        goto done;
    }
    int status;
    if (release_gil) {
        Py_BEGIN_ALLOW_THREADS
        status = lib_cache_set(pointer, key.buf, (size_t)key.len, value.buf, (size_t)value.len, (int64_t)ttl);
        Py_END_ALLOW_THREADS
    } else {
        status = lib_cache_set(pointer, key.buf, (size_t)key.len, value.buf, (size_t)value.len, (int64_t)ttl);
    }
    if (leave(calls, in_flight) == 0) result = PyLong_FromLong(status);
done:
    Py_XDECREF(in_flight);
    Py_XDECREF(handle);
    Py_XDECREF(address);
    PyBuffer_Release(&key);
    PyBuffer_Release(&value);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"bind", speedups_bind, METH_VARARGS, "Takes the library's function addresses from the loaded ctypes CDLL."},
    {"set", speedups_set, METH_VARARGS, "cachekit_cache_set under a _Calls in-flight count; the status, or None if closed."},
    {NULL, NULL, 0, NULL},
};

static int speedups_exec(PyObject *module) {
#define INTERN(variable, text) \
    if ((variable = PyUnicode_InternFromString(text)) == NULL) return -1;
    INTERN(str_cache, "cache")
    INTERN(str_calls, "_calls")
    INTERN(str_in_flight, "in_flight")
    INTERN(str_closed, "closed")
    INTERN(str_handle, "handle")
    INTERN(str_value, "value")
    INTERN(str_settings, "settings")
    INTERN(str_has_l2, "has_l2")
    INTERN(str_completions, "completions")
    INTERN(str_last_operation_at, "last_operation_at")
    INTERN(str_release, "_release")
#undef INTERN
    PyObject *type = PyType_FromModuleAndSpec(module, &hit_path_spec, NULL);
    if (type == NULL) return -1;
    if (PyModule_AddObjectRef(module, "HitPath", type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    Py_DECREF(type);
    return 0;
}

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, speedups_exec},
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cachekit_native._speedups",
    .m_doc = "The decorator's sync hit path in C (see _fast.py).",
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    return PyModuleDef_Init(&speedups_module);
}
