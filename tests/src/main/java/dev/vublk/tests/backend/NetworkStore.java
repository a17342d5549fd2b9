package dev.vublk.tests.backend;

import java.nio.file.Path;

/**
 * An image on network storage, named the way each backend under test takes it: ours through
 * {@code --blk-file}, qemu-storage-daemon through a protocol {@code --blockdev}.
 *
 * @param ours                  our {@code --blk-file} location
 * @param qsdBlockdev           qsd's protocol node options, without {@code node-name}
 * @param reconnectDelaySeconds how long requests wait for a store that went away (our
 *                              {@code --reconnect-delay}; qsd's nbd driver has the same option)
 */
public record NetworkStore(String ours, String qsdBlockdev, int reconnectDelaySeconds) {
    public static final int DEFAULT_RECONNECT_DELAY = 20;

    /** An NBD export served on a Unix socket. */
    public static NetworkStore nbdUnix(Path socket, String export) {
        return new NetworkStore("nbd+unix:///" + export + "?socket=" + socket,
                "driver=nbd,server.type=unix,server.path=" + socket + ",export=" + export, DEFAULT_RECONNECT_DELAY);
    }

    /** An RBD image of the cluster {@code conf} describes, as its admin. */
    public static NetworkStore rbd(Path conf, String pool, String image) {
        return new NetworkStore("rbd:" + pool + "/" + image + ":conf=" + conf,
                "driver=rbd,pool=" + pool + ",image=" + image + ",conf=" + conf, DEFAULT_RECONNECT_DELAY);
    }

    public NetworkStore withReconnectDelay(int seconds) {
        return new NetworkStore(ours, qsdBlockdev, seconds);
    }
}
