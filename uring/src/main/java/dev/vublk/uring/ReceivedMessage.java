package dev.vublk.uring;

/** What one {@code recvmsg} delivered: the byte count and the descriptors that came with it. */
public record ReceivedMessage(int bytes, int[] fds) {
    public static final int[] NO_FDS = new int[0];
}
