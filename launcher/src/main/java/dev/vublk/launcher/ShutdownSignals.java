package dev.vublk.launcher;

import sun.misc.Signal;

/**
 * SIGTERM and SIGINT stop the server so the main thread closes the image and exits 0; a plain
 * shutdown hook would leave the JVM exiting with 143 and race the image close.
 */
final class ShutdownSignals {
    private ShutdownSignals() {}

    static void onTerminate(Runnable action) {
        for (String name : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(name), s -> action.run());
        }
    }
}
