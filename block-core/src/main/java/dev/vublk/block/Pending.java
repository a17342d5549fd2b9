package dev.vublk.block;

/**
 * Work of another queue that a step must wait for (an allocation of the same range, a metadata
 * write-back), through {@link Mapping#await}.
 */
public interface Pending {}
