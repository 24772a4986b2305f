import java.io.*;
import java.net.*;
public class Server {
    public static void main(String[] a) throws Exception {
        try (ServerSocket ss = new ServerSocket(Integer.parseInt(a[0]))) {
            new File(a[1]).createNewFile();
            try (Socket s = ss.accept()) {
                BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream()));
                String line = r.readLine();
                OutputStream o = s.getOutputStream();
                o.write(("java " + line + " from " + s.getInetAddress().getHostAddress() + "\n").getBytes());
                o.flush();
            }
        }
    }
}
