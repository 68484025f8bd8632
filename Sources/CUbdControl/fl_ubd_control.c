/* Header-only: fl_ubd_control.h. */
