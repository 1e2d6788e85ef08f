#!/usr/bin/env bash
while [ ! -f /work/exp/s50/fresh3.rc ]; do sleep 5; done
S=4 /work/exp/s51/guard4.sh
