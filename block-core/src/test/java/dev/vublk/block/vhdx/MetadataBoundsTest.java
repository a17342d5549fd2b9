package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Counts and sizes an image names are bounded before anything is allocated from them. */
class MetadataBoundsTest {
    static final Path PATH = Path.of("bounds.vhdx");

    /**
     * A parent locator whose entries all point into one shared stretch of text: 512 distinct
     * 64 KiB keys and the same 64 KiB value decode to 64 MiB of strings from a 200 KiB item.
     */
    @Test
    void parentLocatorTextCannotOutgrowItsItem() {
        int count = 512, text = 65534;
        int table = 20 + count * 12;
        byte[] item = new byte[table + 2 * count + text];
        new Random(1).nextBytes(item);
        ByteBuffer b = ByteBuffer.wrap(item).order(ByteOrder.LITTLE_ENDIAN);
        MsGuid.write(b, 0, KnownGuids.VHDX_PARENT_LOCATOR_TYPE);
        b.putShort(16, (short) 0);
        b.putShort(18, (short) count);
        for (int i = 0; i < count; i++) {
            int at = 20 + i * 12;
            b.putInt(at, table + 2 * i); // key: a window sliding over the text, so every key differs
            b.putInt(at + 4, table); // value: the same text for every entry
            b.putShort(at + 8, (short) text);
            b.putShort(at + 10, (short) text);
        }
        ImageException e = assertThrows(ImageException.class, () -> ParentLocator.parse(item, PATH));
        assertTrue(e.getMessage().contains("keys and values of " + (2L * count * text) + " bytes"), e.getMessage());
    }

    @Test
    void parentLocatorLaidOutByTheCreatorStillParses() throws Exception {
        ParentLocator l = new ParentLocator(KnownGuids.VHDX_PARENT_LOCATOR_TYPE, java.util.Map.of(
                ParentLocator.LINKAGE, "{00000000-0000-0000-0000-000000000001}", ParentLocator.RELATIVE, "..\\base.vhdx"));
        assertEquals(l.entries(), ParentLocator.parse(l.encode(), PATH).entries());
    }

    @Test
    void batEntryCountIsCappedBySpecLimits() {
        BatLayout largest = BatLayout.of(Layout.MAX_DISK_SIZE, Layout.MIN_BLOCK, 512, true);
        assertEquals(BatTable.MAX_ENTRIES, largest.totalEntries());
        assertEquals(67_125_248L, BatTable.MAX_ENTRIES);
        assertTrue(BatLayout.of(Layout.MAX_DISK_SIZE, Layout.MIN_BLOCK, 512, false).totalEntries() <= BatTable.MAX_ENTRIES);
    }
}
