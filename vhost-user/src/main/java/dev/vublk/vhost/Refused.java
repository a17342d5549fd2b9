package dev.vublk.vhost;

/**
 * A request that cannot be carried out: the front-end gets a failure reply and the reason is
 * logged once; the connection and every other piece of state stay as they were.
 */
final class Refused extends Exception {
    Refused(String reason) {
        super(reason, null, false, false);
    }
}
