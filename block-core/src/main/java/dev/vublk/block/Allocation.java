package dev.vublk.block;

/**
 * Space a format set aside for a guest range whose data must be written before the metadata
 * points at it (copy-on-write formats): the engine fills {@code [fillStart, fillEnd)} with the
 * guest's data and the old data around it, then commits through {@link Mapping#commit}.
 */
public interface Allocation extends Pending {
    /** First guest byte the fill covers. */
    long fillStart();

    /** End of the guest range the fill covers. */
    long fillEnd();

    /** Where guest byte {@code fillStart()} goes in the step's storage. */
    long hostStart();
}
