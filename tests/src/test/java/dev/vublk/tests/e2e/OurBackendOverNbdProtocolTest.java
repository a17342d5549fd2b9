package dev.vublk.tests.e2e;

import dev.vublk.tests.backend.BackendKind;

/**
 * The shared protocol tests against our backend serving the image from an NBD export
 * (qemu-nbd over the image file): the data checks read the file qemu-nbd wrote.
 */
class OurBackendOverNbdProtocolTest extends AbstractBlkProtocolTest {
    @Override
    BackendKind kind() {
        return BackendKind.OURS_IN_PROCESS;
    }

    @Override
    BackendFixture.Store store() {
        return BackendFixture.Store.NBD;
    }
}
