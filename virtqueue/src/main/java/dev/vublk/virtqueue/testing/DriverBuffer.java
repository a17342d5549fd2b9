package dev.vublk.virtqueue.testing;

/** One buffer a test driver puts in a chain: guest address, length, device-writable or not. */
public record DriverBuffer(long gpa, int length, boolean writable) {
    public static DriverBuffer readable(long gpa, int length) {
        return new DriverBuffer(gpa, length, false);
    }

    public static DriverBuffer writable(long gpa, int length) {
        return new DriverBuffer(gpa, length, true);
    }
}
