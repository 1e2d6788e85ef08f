#!/usr/bin/env bash
while [ ! -f /work/exp/s51/fresh4.rc ]; do sleep 5; done
S=5 /work/exp/s51/guard4.sh
