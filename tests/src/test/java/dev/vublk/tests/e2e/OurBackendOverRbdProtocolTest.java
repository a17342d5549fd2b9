package dev.vublk.tests.e2e;

import dev.vublk.tests.backend.BackendKind;

/**
 * The shared protocol tests against our backend serving an RBD image of the throwaway test
 * cluster: the data checks read an {@code rbd export} of the image.
 */
class OurBackendOverRbdProtocolTest extends AbstractBlkProtocolTest {
    @Override
    BackendKind kind() {
        return BackendKind.OURS_IN_PROCESS;
    }

    @Override
    BackendFixture.Store store() {
        return BackendFixture.Store.RBD;
    }
}
