package dev.vublk.tests.frontend;

/** A range of guest RAM the frontend allocated: what a descriptor points at. */
public record GuestBuffer(long gpa, int length) {
    public GuestBuffer slice(int offset, int len) {
        if (offset < 0 || len < 0 || offset + len > length) {
            throw new IndexOutOfBoundsException(offset + "+" + len + " of " + length);
        }
        return new GuestBuffer(gpa + offset, len);
    }
}
