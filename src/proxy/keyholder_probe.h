/* keyhole __keyholder-probe DIR FILE (internal, for the attack tests):
 * confines itself as the daemon does once started, tries what a taken
 * daemon would, and prints what was allowed (keyholder_probe.c). */
#ifndef KH_KEYHOLDER_PROBE_H
#define KH_KEYHOLDER_PROBE_H

int kh_keyholder_probe_run(int argc, char **argv);

#endif
