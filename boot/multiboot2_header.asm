; Multiboot2 header (Multiboot2 specification, section 3.1). GRUB searches the
; first 32 KiB of the image for it; the linker script puts it first.

MB2_MAGIC        equ 0xe85250d6
MB2_ARCH_I386    equ 0
MB2_TAG_END      equ 0

section .multiboot2
align 8
mb2_header_start:
    dd MB2_MAGIC
    dd MB2_ARCH_I386
    dd mb2_header_end - mb2_header_start
    dd -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header_start))
    ; end tag
    dw MB2_TAG_END
    dw 0
    dd 8
mb2_header_end:
