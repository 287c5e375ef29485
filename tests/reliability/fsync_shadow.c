/* fsync_shadow.so — LD_PRELOAD shim for the power-cut test (tests/reliability/test_rel_powercut.py).
 *
 * Every fsync()/fdatasync() of a regular file directly inside $FSYNC_SHADOW_WATCH copies that file's
 * whole content, as it is at that instant, to $FSYNC_SHADOW_DIR/<name> (atomically: temp + rename).
 * The shadow directory therefore holds exactly what the process had made durable: a file's content
 * at its last fsync. After a SIGKILL the test replaces the real files with the shadow copies, which
 * models a power cut where the page cache is lost and no write after the last fsync reached the disk.
 * Files never fsync'd (e.g. the SQLite -shm, a WAL before its first commit) are dropped.
 * Namespace operations are taken as durable at once: unlink() of a watched file drops its shadow
 * (SQLite deletes a rollback journal without syncing the directory unless synchronous=EXTRA).
 *
 * Build: gcc -shared -fPIC -O2 -o fsync_shadow.so fsync_shadow.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t shadow_lock = PTHREAD_MUTEX_INITIALIZER;

static void shadow(int fd) {
    const char *dir = getenv("FSYNC_SHADOW_DIR");
    const char *watch = getenv("FSYNC_SHADOW_WATCH");
    if (!dir || !watch) return;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = 0;
    size_t wl = strlen(watch);
    if (strncmp(path, watch, wl) != 0 || path[wl] != '/') return;
    const char *name = path + wl + 1;
    if (strchr(name, '/') || name[0] == 0) return;
    pthread_mutex_lock(&shadow_lock);
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        char tmp[4096], dst[4096];
        snprintf(dst, sizeof dst, "%s/%s", dir, name);
        snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
        int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out >= 0) {
            off_t off = 0; /* sendfile with an offset pointer leaves fd's own offset alone */
            int ok = 1;
            while (off < st.st_size) {
                ssize_t k = sendfile(out, fd, &off, (size_t)(st.st_size - off));
                if (k <= 0) { ok = 0; break; }
            }
            close(out);
            if (ok) rename(tmp, dst); else unlink(tmp);
        }
    }
    pthread_mutex_unlock(&shadow_lock);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int rc = real(fd);
    if (rc == 0) shadow(fd);
    return rc;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int rc = real(fd);
    if (rc == 0) shadow(fd);
    return rc;
}

static void forget(const char *path) {
    const char *dir = getenv("FSYNC_SHADOW_DIR");
    const char *watch = getenv("FSYNC_SHADOW_WATCH");
    if (!dir || !watch || !path) return;
    size_t wl = strlen(watch);
    if (strncmp(path, watch, wl) != 0 || path[wl] != '/') return;
    const char *name = path + wl + 1;
    if (strchr(name, '/') || name[0] == 0) return;
    char dst[4096];
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    pthread_mutex_lock(&shadow_lock);
    unlink(dst);
    pthread_mutex_unlock(&shadow_lock);
}

int unlink(const char *path) {
    static int (*real)(const char *);
    if (!real) real = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    int rc = real(path);
    if (rc == 0) forget(path);
    return rc;
}
