package dev.vublk.block.qcow2;

/** A metadata write the flusher issues: bytes copied under the lock, written outside it. */
record TableWrite(long offset, byte[] bytes) {}
