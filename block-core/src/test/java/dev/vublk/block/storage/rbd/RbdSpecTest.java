package dev.vublk.block.storage.rbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vublk.block.ImageException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RbdSpecTest {
    @Test
    void poolAndImageOnly() throws ImageException {
        RbdSpec s = RbdSpec.parse("rbd:rbd/disk");
        assertEquals(new RbdSpec("rbd", null, "disk", null, null, null, List.of()), s);
        assertEquals("client.admin", s.entity());
        assertEquals("rbd:rbd/disk", s.location());
    }

    @Test
    void everyPartAndCephOptionsInOrder() throws ImageException {
        RbdSpec s = RbdSpec.parse("rbd:pool/ns/img@snap:conf=/etc/c.conf:id=vm1:mon_host=10.0.0.1\\:6789:rbd_cache=false");
        assertEquals("pool", s.pool());
        assertEquals("ns", s.namespace());
        assertEquals("img", s.image());
        assertEquals("snap", s.snapshot());
        assertEquals("/etc/c.conf", s.conf());
        assertEquals("client.vm1", s.entity());
        assertEquals(List.of(Map.entry("mon_host", "10.0.0.1:6789"), Map.entry("rbd_cache", "false")), s.options());
        assertEquals("rbd:pool/ns/img@snap", s.location());
    }

    @Test
    void escapesKeepSeparatorsLiteral() throws ImageException {
        RbdSpec s = RbdSpec.parse("rbd:p/a\\:b\\@c\\/d\\\\e:conf=/x\\:y");
        assertEquals("a:b@c/d\\e", s.image());
        assertNull(s.snapshot());
        assertEquals("/x:y", s.conf());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "rbd/disk|not an RBD image name",
        "rbd:|expected POOL/IMAGE",
        "rbd:disk|expected POOL/IMAGE",
        "rbd:a/b/c/d|expected POOL/IMAGE",
        "rbd:/disk|empty pool name",
        "rbd:rbd/|empty image name",
        "rbd:rbd//disk|empty namespace name",
        "rbd:rbd/disk@|empty snapshot name",
        "rbd:rbd/@s|empty image name",
        "rbd:rbd/disk@a@b|more than one '@'",
        "rbd:rbd/disk:conf|option 'conf' is not KEY=VALUE",
        "rbd:rbd/disk:=v|option '=v' is not KEY=VALUE",
        "rbd:rbd/disk:|option '' is not KEY=VALUE",
        "rbd:rbd/disk:id=a:id=b|option 'id' given twice",
        "rbd:rbd/disk:conf=|option 'conf' is empty",
        "rbd:rbd/disk\\|lone '\\'",
    })
    void badSpecsNameTheCause(String spec, String cause) {
        ImageException e = assertThrows(ImageException.class, () -> RbdSpec.parse(spec));
        assertEquals(true, e.getMessage().startsWith(spec + ": ") && e.getMessage().contains(cause), e.getMessage());
    }
}
