/* Placeholder for the empty archives the shims hand to mediasoup's link_whole. */
