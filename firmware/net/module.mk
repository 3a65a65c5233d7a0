# firmware/net/: listener, epoll workers, framing, TLS and the client identity.
$(eval $(call fw_module,net,firmware/net/net.c firmware/net/tls.c firmware/net/identity.c))
