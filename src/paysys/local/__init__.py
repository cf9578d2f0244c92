"""What `paysys local` needs: the embedded moto emulator and the child-process helper."""
