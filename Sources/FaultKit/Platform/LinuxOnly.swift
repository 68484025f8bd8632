// Faultline is Linux only, and says so where a build elsewhere would otherwise fail obscurely:
// sweep workers use memfd, /proc and Linux signals, the linux engine User-Mode Linux, the ext2fs
// engine libext2fs from the system. Package.swift declares no other platform.
#if !os(Linux)
  #error("Faultline runs on Linux only (memfd, /proc, User-Mode Linux, glibc); build it on Linux")
#endif
