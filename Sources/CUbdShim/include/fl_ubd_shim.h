/* The shim exports the libc calls it interposes; nothing else. */
